"""Every file under benchmarks/results/ (hand-written notes aside) is listed in its index.md."""

import os
import re

RESULTS = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "results")


def _listed():
    with open(os.path.join(RESULTS, "index.md")) as f:
        rows = [line.split("|")[1] for line in f if line.startswith("| `")]
    return {name.strip() for row in rows for name in re.findall(r"`([^`]+)`", row)[0].split(",")}


def test_every_result_file_is_indexed():
    listed = _listed()
    missing = []
    for folder, _, files in os.walk(RESULTS):
        rel = os.path.relpath(folder, RESULTS)
        if rel.split(os.sep)[0] == "notes":
            continue
        for name in files:
            path = os.path.normpath(os.path.join(rel, name))
            parents = [os.path.join(*path.split(os.sep)[:i]) + "/" for i in range(1, path.count(os.sep) + 1)]
            if path not in listed and not any(p in listed for p in parents) and name != "index.md":
                missing.append(path)
    assert not missing, f"Result files missing from benchmarks/results/index.md: {missing}"


def test_every_indexed_file_exists():
    gone = [name for name in _listed() if not os.path.exists(os.path.join(RESULTS, name))]
    assert not gone, f"index.md lists files that are not in benchmarks/results/: {gone}"
