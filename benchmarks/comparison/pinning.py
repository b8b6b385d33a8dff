"""Pins a benchmark run to the code it started with (flag-free library).

A long run resumed with other code would mix two versions in one number. The runner writes
RUN/code.json at a run's start and refuses a resume from another commit.
"""

import json
import os
import subprocess


class CodeChanged(RuntimeError):
    """A run would resume with other code than it started with."""


CODE_DIRS = ("bkd_keras", "data", "models", "flags")


def code_version():
    """{"commit": HEAD, "dirty": code folders differ from HEAD} of this checkout (None outside git)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def git(*args):
        return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True)
    head = git("rev-parse", "HEAD")
    if head.returncode:
        return {"commit": None, "dirty": None}
    dirty = bool(git("status", "--porcelain", "--", *CODE_DIRS).stdout.strip())
    return {"commit": head.stdout.strip(), "dirty": dirty}


def check_code(out, allow_change=False):
    """Pins a run to the code it started with: writes RUN/code.json, or checks it on resume."""
    path = os.path.join(out, "code.json")
    current = code_version()
    if not os.path.exists(path):
        os.makedirs(out, exist_ok=True)
        with open(path, "w") as f:
            json.dump(current, f)
        return current
    with open(path) as f:
        started = json.load(f)
    if started != current and not allow_change:
        raise CodeChanged(
            f"{out} was started with the code at commit {started['commit']}"
            f"{' (with uncommitted changes)' if started['dirty'] else ''}, but this checkout is "
            f"{current['commit']}{' (with uncommitted changes)' if current['dirty'] else ''}. Resume it from "
            f"a worktree at its commit (git worktree add ../longrun {started['commit']}), or pass "
            "--allow_code_change if a test shows the change leaves its numbers unchanged.")
    return started
