"""The local host, with one change: the first time the decide step runs, the process kills itself (SIGKILL).

Used by the fault tests to show that a worker killed mid-step loses nothing:
its message was never deleted, so it comes back after its lease.
"""

import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import functions.decide as decide  # noqa: E402
import local_host  # noqa: E402

marker = Path(os.environ["KILL_MARKER"])
real_step = decide.decide_step


def dying_step(ctx):
    if not marker.exists():
        marker.write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return real_step(ctx)


decide.decide_step = dying_step
sys.exit(local_host.main(sys.argv[1:]))
