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


# TensorFlow's thread pools, which these benchmarks sometimes pin (e.g. TF_NUM_INTEROP_THREADS=1).
THREAD_VARIABLES = ("TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS")


def thread_settings():
    """{variable: value} of the thread-pool environment variables set for this process ({}: defaults)."""
    return {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}
