"""Lexicon-based review sentiment for English and Chinese, in [-1, 1].

English: word tokens matched against small built-in lexicons; a negator (not, never, n't, ...) flips the
next three words, and words after "but" count double. Chinese: greedy longest match of lexicon words over
the characters (no segmenter needed); a negator (不, 没, ...) right before a match flips it, and matches
after 但/不过/可是 count double. The score is
``(pos - neg) / (pos + neg + 1)``: 0 when nothing matched, towards +-1 as evidence grows.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())

_EN_POS = _words("""
amazing awesome beautiful beautifully best better bargain brilliant captivating charming clean clear comfortable
comfy compelling convenient cool cute delight delighted delightful durable easy easily effective elegant
enjoy enjoyable enjoyed enjoying entertaining excellent exceptional exceeded excited exciting fabulous fantastic
fast favorite favourite fine fits flawless fun funny glad good gorgeous great happy helpful highly ideal
impressed impressive incredible informative insightful inspiring interesting love loved lovely loves loving
masterpiece nice outstanding perfect perfectly pleasant pleased powerful pretty quality quick quiet recommend
recommended reliable remarkable satisfied smooth solid sturdy stunning superb terrific thank thanks thorough
useful valuable well wonderful worth wow classic must fascinating gem readable handy soft stylish versatile
""")

_EN_NEG = _words("""
annoying awful bad badly boring broke broken cheap cheaply cheesy confusing crap defective difficult
disappoint disappointed disappointing disappointment dull fail failed fails failure false faulty flimsy garbage
hate hated horrible junk lacks lame leaked leaks mediocre mess misleading missing nothing poor poorly problem
problems refund return returned returning ridiculous rip ruined sadly scratched shoddy slow sorry stupid
terrible tedious tired uncomfortable unfortunately unusable useless waste wasted weak worse worst wrong
pointless overrated predictable shallow stopped flaw flawed unreadable irritating awkward tight itchy ugly
""")

_EN_NEGATORS = _words("not no never none nothing neither nor hardly barely without cannot cant dont")
_EN_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[.!?;]")

_ZH_POS = _words(
    "好 不错 满意 喜欢 推荐 值得 划算 实惠 方便 舒适 舒服 干净 漂亮 精美 完美 棒 赞 给力 超值 物美价廉 性价比高 "
    "快 很快 及时 准时 新鲜 好吃 美味 香 热情 周到 贴心 耐心 清晰 流畅 稳定 结实 正品 惊喜 感谢 谢谢 开心 "
    "愉快 好评 优秀 精彩 经典 感动 温馨 安静 宽敞 齐全 便宜 快捷 到位 好用 实用 喜爱 满分 五星 不错的 "
    "很好 挺好 还好 较好 超赞 好看 大方 速度快 分量足 量大 味道好 值 受益匪浅 启发 幽默 生动 细致 专业 "
    "小巧 美观 合理 满足 轻松 时尚 便携 鲜艳 省电 合适 大气 还行 尚可 足够 优点 好评如潮 回头客 下次还"
)

_ZH_NEG = _words(
    "差 很差 太差 不好 失望 难吃 脏 贵 坏 垃圾 退货 退款 后悔 糟糕 恶心 烂 骗 投诉 差评 不值 慢 太慢 "
    "很慢 等了 超时 送错 漏 没送 少送 不新鲜 油腻 难用 死机 蓝屏 发热 异味 潮湿 噪音 吵 旧 破 霉 硬 "
    "冷 凉了 凉 咸 太咸 淡 太淡 难吃的 不满意 不行 不够 不能 不会再 再也不 一般 坑 骗人 问题 故障 "
    "毛病 麻烦 不方便 敷衍 态度差 态度不好 恶劣 简陋 陈旧 不值得 浪费 无聊 乏味 枯燥 粗糙 劣质 假货 "
    "难看 缺点 遗憾 不足 不推荐 不怎么样 差劲 太贵 偏贵 不干净 生气 郁闷 无语 可惜 失败 错误 拉黑 "
    "愤怒 嘈杂 不合理 太重 杂音 不习惯 无话可说 取消 很难 不入流 炒作 重复 发烧 感冒 洒 撒了 少了 太少 糊 "
    "难以下咽 一个多小时 两个小时 迟到 不适合 不值这个价 失败的 退 吐槽 上当 后悔死了"
)

_ZH_NEGATORS = ("不", "没", "没有", "别", "无", "非", "未", "毫无", "并不", "不是", "不太")
_ZH_BUT = ("但是", "但", "不过", "可是")
_ZH_LEXICON: dict[str, int] = {**{w: 1 for w in _ZH_POS}, **{w: -1 for w in _ZH_NEG}}
_ZH_MAXLEN = max(map(len, _ZH_LEXICON))


def _score(pos: float, neg: float) -> float:
    return (pos - neg) / (pos + neg + 1.0)


def sentiment_en(text: str) -> float:
    """English sentiment in [-1, 1]."""
    pos = neg = 0.0
    flip_left = 0
    weight = 1.0
    for tok in _EN_TOKEN.findall(text.lower()):
        if tok in ".!?;":
            flip_left = 0
            continue
        if tok == "but":
            weight = 2.0
            continue
        if tok in _EN_NEGATORS or tok.endswith("n't"):
            flip_left = 3
            continue
        polarity = 1 if tok in _EN_POS else -1 if tok in _EN_NEG else 0
        if flip_left:
            flip_left -= 1
            polarity = -polarity
        if polarity > 0:
            pos += weight
        elif polarity < 0:
            neg += weight
    return _score(pos, neg)


def sentiment_zh(text: str) -> float:
    """Chinese sentiment in [-1, 1]."""
    pos = neg = 0.0
    weight = 1.0
    i, n = 0, len(text)
    while i < n:
        if text.startswith(_ZH_BUT, i):
            weight = 2.0
        for size in range(min(_ZH_MAXLEN, n - i), 0, -1):
            polarity = _ZH_LEXICON.get(text[i : i + size])
            if polarity is not None:
                break
        else:
            i += 1
            continue
        if polarity > 0 and text[max(0, i - 2) : i].endswith(_ZH_NEGATORS):
            polarity = -polarity
        if polarity > 0:
            pos += weight
        else:
            neg += weight
        i += size
    return _score(pos, neg)


def sentiment(text: str, language: str) -> float:
    """Sentiment of ``text`` in [-1, 1]; ``language`` is a BCP 47 tag ("en", "zh", "zh-CN"); others give 0."""
    lang = language.lower().split("-")[0]
    if lang == "en":
        return sentiment_en(text)
    if lang == "zh":
        return sentiment_zh(text)
    return 0.0
