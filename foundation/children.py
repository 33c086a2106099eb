"""Foundation: child processes that do not outlive the process that started them.

The embedded stack starts the local broker and each stage as a process of its own session (so a
terminal's Ctrl-C reaches `journeys up` alone, which stops them in order). Killed outright (SIGKILL,
the OOM killer), `up` cannot stop them: a worker would go on holding the embedded warehouse, which
chDB lets one process open, and the broker its port. On Linux each child asks the kernel for
SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG); elsewhere only the orderly stop ends them.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Resolved here, in the parent: between fork and exec the child must not load libraries.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def dies_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen`: the child gets SIGTERM when this process dies (None
    where the platform has no such signal)."""
    if _PRCTL is None:
        return None
    parent, prctl = os.getpid(), _PRCTL

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request: nobody will send it
            os.kill(os.getpid(), signal.SIGTERM)

    return arm
