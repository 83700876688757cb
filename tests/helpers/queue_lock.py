"""Another process holding the embedded queue database's write lock, as a backup tool or a stray shell might."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_HOLD = ("import sqlite3, sys, time\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "c.execute('BEGIN EXCLUSIVE')\n"
         "print('locked', flush=True)\n"
         "time.sleep(float(sys.argv[2]))\n"
         "c.execute('COMMIT')\n")


def hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    """Start a process that takes the database's exclusive lock and keeps it for `seconds`; returns once it holds it."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "locked":
        raise RuntimeError(f"the lock holder did not take the lock on {path}")
    return proc
