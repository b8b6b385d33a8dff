"""Tests import no module that defines absl flags except flags.definitions.

pytest runs many test files in one process: a second module defining a flag of the same name
(e.g. a study script's --epochs) raises DuplicateFlagError at import. Scripts keep their logic in
flag-free modules that tests import; the scripts themselves are run in subprocesses."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
ALLOWED = {"flags.definitions"}


def _flag_defining_modules():
    modules = set()
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("tests", ".ci") or rel.parts[0].startswith("."):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr.startswith("DEFINE")):
                modules.add(".".join(rel.with_suffix("").parts))
                break
    return modules


def _imported_modules(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            for alias in node.names:                    # `from benchmarks.studies import script`
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_the_check_sees_flag_definitions():
    definers = _flag_defining_modules()
    assert {"flags.definitions", "benchmarks.comparison.runner"} <= definers


def test_tests_import_no_flag_defining_module_but_the_training_flags():
    definers = _flag_defining_modules() - ALLOWED
    offenders = sorted({(test.name, module) for test in (ROOT / "tests").glob("*.py")
                        for module in _imported_modules(test) if module in definers})
    assert not offenders, (f"tests import flag-defining script modules {offenders}: move the logic they "
                           "test into a flag-free module and import that")
