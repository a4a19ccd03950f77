from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("faust", "kafka", "aiokafka", "confluent_kafka", "mode")


def test_models_and_schemas_do_not_import_faust_or_kafka():
    code = (
        "import importlib, pkgutil, sys\n"
        "import socialpulse.models as m, socialpulse.schemas as s\n"
        "for pkg in (m, s):\n"
        "    for info in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(pkg.__name__ + '.' + info.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# schemas is the bottom layer (it imports nothing of ours), so models may use its typed records.
ALLOWED = ("socialpulse.models", "socialpulse.schemas")


def test_models_import_only_models_and_schemas_of_socialpulse():
    for path in sorted((ROOT / "models").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in FORBIDDEN, f"{path.name} imports {name}"
                if top == "socialpulse":
                    assert name.startswith(ALLOWED), f"{path.name} imports {name}"
