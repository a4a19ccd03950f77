"""Pure computation for SocialPulse: state over an injected key-value store, candidates, ranking, sentiment.

Never imports Faust, Kafka or other socialpulse packages. Start with README.md beside this file.
"""

from .candidates import Candidate, generate
from .config import ModelConfig
from .interactions import Interaction, ItemInfo
from .learn import learn_one, sweep
from .ranking import SCORERS, Context, RankedItem, Scorer, rank
from .sentiment import sentiment

__all__ = [
    "SCORERS",
    "Candidate",
    "Context",
    "Interaction",
    "ItemInfo",
    "ModelConfig",
    "RankedItem",
    "Scorer",
    "generate",
    "learn_one",
    "rank",
    "sentiment",
    "sweep",
]
