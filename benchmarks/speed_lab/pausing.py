"""Stop other processes (a long run's trainer) while a benchmark times something."""

import contextlib
import os
import signal


@contextlib.contextmanager
def paused(pids):
    """SIGSTOPs `pids` for the duration (SIGCONT afterwards, also on errors)."""
    stopped = []
    try:
        for pid in pids:
            os.kill(int(pid), signal.SIGSTOP)
            stopped.append(int(pid))
        yield
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
