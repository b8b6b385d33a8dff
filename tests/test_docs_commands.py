"""The commands in README.md and docs/ name modules that exist, and `bkd_keras.train` flags it defines.

The library example runs in test_readme.py; training commands cost minutes each, so here their
spelling is checked: a renamed module or flag would otherwise leave the docs quietly wrong.
"""

import glob
import os
import re

from absl import flags as absl_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTSIDE = {"pytest", "pip", "venv"}     # modules of other packages the docs run
OLD_WORKTREE = {"benchmarks.runner"}    # a long run pinned at a commit from before the benchmarks were grouped


def _commands():
    """(file, module, flag names) of every `python -m` command, continuation lines joined."""
    found = []
    for path in [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        text = open(path).read().replace("\\\n", " ")
        for line in text.splitlines():
            for m in re.finditer(r"python3? -m ([\w.]+)([^`|;&]*)", line):
                found.append((os.path.basename(path), m.group(1), re.findall(r"--(\w+)", m.group(2))))
    return found


def test_docs_commands_name_existing_modules():
    assert len(_commands()) > 20
    missing = [(doc, module) for doc, module, _ in _commands()
               if module not in OUTSIDE | OLD_WORKTREE and not (
                   os.path.exists(os.path.join(ROOT, *module.split(".")) + ".py")
                   or os.path.isdir(os.path.join(ROOT, *module.split("."))))]
    assert not missing, f"Docs run modules that do not exist: {missing}"


def test_docs_train_commands_use_defined_flags():
    import flags.definitions  # noqa: F401  (defines the training flags)
    defined = set(absl_flags.FLAGS) | {"helpfull", "help"}
    unknown = [(doc, name) for doc, module, names in _commands() if module == "bkd_keras.train"
               for name in names if name not in defined and not name.startswith("no")]
    assert not unknown, f"Docs pass bkd_keras.train flags it does not define: {unknown}"
