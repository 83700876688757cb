"""The local host, with one change: the first time the decide step runs, the process kills itself (SIGKILL).

Used by the fault tests to show that a worker killed mid-step loses nothing:
its message was never deleted, so it comes back after its lease.
"""

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import local_host
from functions.steps.table import STEPS

marker = Path(os.environ["KILL_MARKER"])
real_step = STEPS["decide"].function


def dying_step(ctx):
    if not marker.exists():
        marker.write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return real_step(ctx)


if __name__ == "__main__":
    STEPS.steps["decide"] = replace(STEPS["decide"], function=dying_step)
    sys.exit(local_host.main(sys.argv[1:]))
