"""The layers stay layered: data/ is the lowest and reaches up into nothing."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_data_imports_nothing_from_bkd_keras():
    found = []
    for name in sorted(os.listdir(os.path.join(ROOT, "data"))):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(ROOT, "data", name)).read())
        for node in ast.walk(tree):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{name}: {m}" for m in modules if m.split(".")[0] in ("bkd_keras", "models", "flags")]
    assert found == []
