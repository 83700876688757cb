"""Servers started as their own processes on free ports of 127.0.0.1: the local host and Azurite.

Shared by the tests and the benchmarks, so a port is found, a host is awaited and Azurite is started one way.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent.parent

# Azurite's published development account key (not a secret: every Azurite has it).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on at this moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_local_host(program: list[str], env: dict, port: int) -> subprocess.Popen:
    """Run `program` (local_host.py or a module built on it) on `port` with 2 s leases; return once it is healthy."""
    proc = subprocess.Popen([sys.executable, *program, "--port", str(port), "--lease-seconds", "2", "--log-level", "WARNING"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/health", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError("local host exited at start")
    raise TimeoutError("local host did not start")


def start_azurite(exe: str | Path, tries: int = 300) -> tuple[subprocess.Popen, str]:
    """Azurite in memory on three free ports: (its process, the connection string for its Blob and Queue services).

    Waits up to `tries` attempts for both the queue and the blob port to accept a connection."""
    blob, queue, table = free_port(), free_port(), free_port()
    proc = subprocess.Popen([str(exe), "--inMemoryPersistence", "--silent", "--disableTelemetry", "--loose",
                             "--skipApiVersionCheck", "--blobPort", str(blob), "--queuePort", str(queue),
                             "--tablePort", str(table)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(tries):
        try:
            socket.create_connection(("127.0.0.1", queue), timeout=0.2).close()
            socket.create_connection(("127.0.0.1", blob), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    conn = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{blob}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{queue}/devstoreaccount1;")
    return proc, conn


def wait_until_drained(queue_store, queue_names: tuple[str, ...], timeout: float = 20.0) -> None:
    """Give a host up to `timeout` seconds to empty the named queues; the caller asserts what is left."""
    deadline = time.time() + timeout
    while any(queue_store.count(q) for q in queue_names) and time.time() < deadline:
        time.sleep(0.2)


def stop_local_host(proc: subprocess.Popen) -> None:
    """Stop a local host as a service manager would (SIGTERM) and wait for it to exit."""
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
