"""The machine a benchmark ran on, for the results files."""

import os
import platform


def cpu_model():
    """The CPU's model name (/proc/cpuinfo), else what `platform` knows."""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            return names[0]
    return platform.processor() or platform.machine()


def describe():
    """'<CPU model>, <n> cores'."""
    return f"{cpu_model()}, {os.cpu_count()} cores"
