"""The README's generated tables match the code, and its two commands are the ones CI runs.

Regenerate the tables after changing a setting or a topic, and paste them into README.md:

    .venv/bin/python tests/test_readme.py
"""

from __future__ import annotations

from pathlib import Path

from socialpulse.streams.settings import Settings
from socialpulse.streams.topics import TOPICS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

RUN_COMMAND = "bash deploy/install.sh && .venv/bin/socialpulse demo"
TEST_COMMAND = "bash deploy/install.sh && .venv/bin/python -m pytest"

_DAY_MS = 24 * 3600 * 1000


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def config_table() -> str:
    """Every setting from ``Settings.documentation()``, as a Markdown table."""
    lines = ["| environment variable | default | meaning |", "| --- | --- | --- |"]
    for env, default, meaning in Settings.documentation():
        lines.append(f"| `{env}` | `{_cell(default)}` | {_cell(meaning)} |")
    return "\n".join(lines)


def topics_table() -> str:
    """The topic catalogue (``streams.topics.TOPICS``) as a Markdown table."""
    lines = ["| topic | record | key | partitions | cleanup | retention | what |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for spec in TOPICS.values():
        partitions = "`SOCIALPULSE_PARTITIONS`" if spec.partitions is None else str(spec.partitions)
        if spec.retention_ms is None:
            retention = "forever" if spec.cleanup == "compact" else "broker default"
        elif spec.retention_ms % _DAY_MS == 0:
            retention = f"{spec.retention_ms // _DAY_MS} d"
        else:
            retention = f"{spec.retention_ms} ms"
        lines.append(f"| `{spec.name}` | `{spec.record_type.__name__}` | {_cell(spec.key)} | {partitions} | "
                     f"{spec.cleanup} | {retention} | {_cell(spec.doc)} |")
    return "\n".join(lines)


def _fenced_blocks(text: str) -> list[str]:
    blocks: list[str] = []
    current: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("```"):
            if inside:
                blocks.append("\n".join(current))
                current = []
            inside = not inside
        elif inside:
            current.append(line)
    return blocks


def test_configuration_table_is_generated_from_settings() -> None:
    assert config_table() in README.read_text(), (
        "README.md's configuration table is out of date: run `.venv/bin/python tests/test_readme.py` and paste it"
    )


def test_topics_table_is_generated_from_the_catalogue() -> None:
    assert topics_table() in README.read_text(), (
        "README.md's topics table is out of date: run `.venv/bin/python tests/test_readme.py` and paste it"
    )


def test_the_first_two_code_blocks_are_the_two_commands() -> None:
    blocks = _fenced_blocks(README.read_text())
    assert blocks[:2] == [RUN_COMMAND, TEST_COMMAND]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    install, pytest_part = TEST_COMMAND.split(" && ")
    lines = [line.strip() for line in ci.splitlines()]
    assert install in lines and pytest_part in lines
    assert lines.index(install) < lines.index(pytest_part)


if __name__ == "__main__":
    print("## configuration\n")
    print(config_table())
    print("\n## topics\n")
    print(topics_table())
