"""The local host, with one change: once KILL_AFTER requests have created their record, the process kills itself
(SIGKILL) while each holds its first message: before sending it (KILL_POINT=before_send) or after sending it and
before emptying the record's outbox (KILL_POINT=after_send).

Used by the fault tests to show that no request is stranded by a crash at admission, none is made twice, and each
is decided once.
"""

import os
import signal
import sys
import threading
import time

import local_host
from functions.runtime import intake

point = os.environ.get("KILL_POINT", "before_send")
expected = int(os.environ.get("KILL_AFTER", "1"))
arrived = threading.Semaphore(0)
real_send = intake.send_with_retry
real_mark_sent = intake.mark_sent


def kill_when_all_arrived() -> None:
    deadline = time.monotonic() + 20
    for _ in range(expected):
        arrived.acquire(timeout=max(0.0, deadline - time.monotonic()))
    time.sleep(0.2)  # let the last one reach its own wait
    os.kill(os.getpid(), signal.SIGKILL)


def waiting_send(queues, queue, text, **kwargs):
    if point == "before_send" and queue == "face-crop":
        arrived.release()
        threading.Event().wait()  # never returns: the process dies here
    return real_send(queues, queue, text, **kwargs)


def waiting_mark_sent(services, record):
    if point == "after_send":
        arrived.release()
        threading.Event().wait()
    return real_mark_sent(services, record)


if __name__ == "__main__":
    intake.send_with_retry = waiting_send
    intake.mark_sent = waiting_mark_sent
    threading.Thread(target=kill_when_all_arrived, daemon=True).start()
    sys.exit(local_host.main(sys.argv[1:]))
