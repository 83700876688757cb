"""Where a request's time goes: the local host under py-spy while devices send genuine attempts.

    python benchmarks/profile.py [--mode sync|async] [--clients 16] [--requests 200] [--out flame.svg]

Enrols a subject with a first host, then starts a fresh host under `py-spy record` (sampling every thread of
the host, idle threads left out) and sends the requests: `sync` one client after another with ?mode=sync,
`async` `--clients` devices at once posting and reading with ?wait=, as benchmarks/load.py does. Writes the
flame graph (SVG) and, with --raw, py-spy's collapsed stacks too; prints the share of samples in the frames
that matter for the service (models, image decode and encode, blobs, SQLite, JSON, HTTP) and how much of
the time one thread held the GIL (a host near 100% is bound by the interpreter, not by the cores).
"""

from __future__ import annotations

import argparse
import collections
import secrets
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from benchmarks.load import TERMINAL, WAIT_SECONDS, attempt_body, enrol_load_subject, start_host
from scripts.demo import free_port, host_env, make_principals, session
from tests.fixtures.photos import astronaut

ROOT = Path(__file__).resolve().parent.parent

# What a frame belongs to (a substring of "function (file:line)"). A sample goes to the innermost frame of its stack
# that matches one of these, so PNG encoding inside a blob write counts as encoding, a socket read as HTTP.
CATEGORIES = (
    ("onnxruntime inference", ("onnxruntime",)),
    ("face detection (MediaPipe)", ("mediapipe",)),
    ("image decode (Pillow)", ("load_rgb (", "load_gray (", "_load (functions/images.py")),
    ("PNG encode of crops", ("encode_png (",)),
    ("blob read/write (AES-GCM, file, fsync)", ("storage/encrypted.py", "put_all (", "storage/azure.py")),
    ("SQLite (records, queue, audit)", ("sqlite3", "execute (functions/storage/embedded.py", "storage/audit.py")),
    ("JSON", ("json/",)),
    ("base64", ("base64",)),
    ("step code (numpy, preprocessing, templates)", ("functions/steps/", "functions/biometrics/", "functions/crypto/", "functions/runtime/")),
    ("HTTP (server, routing, socket)", ("http/server.py", "socketserver.py", "socket.py", "local_host.py", "functions/http/")),
)


def summarise(collapsed: Path) -> list[tuple[str, float]]:
    """Share of the host's samples (with a Python stack) in each category."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():  # a line py-spy cut short
            continue
        samples = int(n)
        if not stack.strip():  # the main thread waiting for a signal, which py-spy cannot tell idle without pausing
            continue
        total += samples
        label = next((name for frame in reversed(stack.split(";")) for name, needles in CATEGORIES
                      if any(needle in frame for needle in needles)), "other")
        counts[label] += samples
    return [(name, counts[name] / total if total else 0.0) for name in [c[0] for c in CATEGORIES] + ["other"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("sync", "async"), default="sync")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bioauth" / "profile")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "report" / "flame.svg")
    args = parser.parse_args(argv)

    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    shutil.rmtree(args.data_dir, ignore_errors=True)
    args.data_dir.mkdir(parents=True)
    env = host_env(args.data_dir, secrets.token_urlsafe(24), BIOAUTH_RATE_LIMIT_PER_MINUTE="0", BIOAUTH_SPOOF_ACTION="review")
    keys = make_principals(args.data_dir, env)
    port = free_port(7074)
    base = f"http://127.0.0.1:{port}"
    person = astronaut()
    bodies = [attempt_body(person, i) for i in range(args.requests + 2)]

    enrol_load_subject(port, env, keys["operator"], person, args.data_dir / "host-enrol.log")
    proc, _ = start_host(port, env, args.data_dir / "host.log")
    device = session(keys["device"])
    device.post(f"{base}/api/v1/verifications?mode=sync", json=bodies.pop(), timeout=300).raise_for_status()  # warm
    collapsed = args.out.with_suffix(".txt")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    spy_svg = subprocess.Popen([py_spy, "record", "--pid", str(proc.pid), "--rate", str(args.rate), "--threads",
                                "--format", "flamegraph", "-o", str(args.out), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spy_raw = subprocess.Popen([py_spy, "record", "--pid", str(proc.pid), "--rate", str(args.rate),
                                "--format", "raw", "-o", str(collapsed), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gil = args.out.with_name(args.out.stem + "-gil.txt")
    spy_gil = subprocess.Popen([py_spy, "record", "--pid", str(proc.pid), "--rate", str(args.rate), "--gil",
                                "--format", "raw", "-o", str(gil), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    t0 = time.perf_counter()
    try:
        if args.mode == "sync":
            for body in bodies:
                device.post(f"{base}/api/v1/verifications?mode=sync", json=body, timeout=120).raise_for_status()
        else:
            def one(body: dict) -> str:
                api = session(keys["device"])
                location = api.post(f"{base}/api/v1/verifications", json=body, timeout=120).headers["Location"]
                while (status := api.get(f"{base}{location}?wait={WAIT_SECONDS}", timeout=60).json()["status"]) not in TERMINAL:
                    pass
                return status

            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(one, bodies))
        elapsed = time.perf_counter() - t0
    finally:
        proc.terminate()  # py-spy writes its output when the process ends
        proc.wait(timeout=30)
        spy_svg.wait(timeout=120)
        spy_raw.wait(timeout=120)
        spy_gil.wait(timeout=120)
    print(f"{len(bodies)} {args.mode} requests in {elapsed:.1f} s ({len(bodies) / elapsed:.1f}/s); flame graph: {args.out}")
    if gil.exists():  # only the thread holding the GIL is sampled: samples over the possible ones is the GIL's load
        held = sum(int(n) for n in (line.rpartition(" ")[2] for line in gil.read_text().splitlines()) if n.isdigit())
        print(f"GIL held {held / (args.rate * (elapsed + 1.0)):.0%} of the time (py-spy --gil samples over rate x duration)")
    if collapsed.exists():
        for name, share in summarise(collapsed):
            print(f"  {name:<34} {share:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
