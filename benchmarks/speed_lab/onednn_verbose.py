"""oneDNN's verbose-mode lines (ONEDNN_VERBOSE=1) summed per primitive, direction and kernel
(used by `benchmarks/speed_lab/onednn_profile.py`)."""

import collections


def parse(lines, steps):
    """{"kind,direction": {"ms_per_step", "calls_per_step", "kernels": {kernel: ms}}} from verbose lines."""
    groups = collections.defaultdict(lambda: {"ms": 0.0, "calls": 0, "kernels": collections.Counter()})
    for line in lines:
        fields = line.strip().split(",")
        if len(fields) < 9 or fields[0] != "onednn_verbose" or "exec" not in fields[2:4]:
            continue
        start = fields.index("exec") + 2            # after "exec,cpu"
        kind, kernel, direction = fields[start:start + 3]
        try:
            ms = float(fields[-1])
        except ValueError:
            continue
        group = groups[f"{kind},{direction}"]
        group["ms"] += ms
        group["calls"] += 1
        group["kernels"][kernel] += ms
    return {key: {"ms_per_step": g["ms"] / steps, "calls_per_step": g["calls"] / steps,
                  "kernels": {k: v / steps for k, v in g["kernels"].most_common()}}
            for key, g in sorted(groups.items(), key=lambda kv: -kv[1]["ms"])}
