"""Throughput, latency, cold start and memory of the service on one machine, and how close it gets to the
bound its own step timings set.

    python benchmarks/load.py [--clients 1,4,16,64] [--requests 64] [--backend embedded|azurite]
                              [--workers N] [--poll] [--out benchmarks/results/load.json]

Starts the local host as its own process (the Functions host's place), makes a device and an operator,
enrols a subject, then for each number of concurrent clients sends genuine attempts asynchronously (POST,
then one status read held with ?wait= until the decision; with --poll, a read every 200 ms) and reports:
requests/s, POST p50/p95, submit-to-decision p50/p95, the median and p95 of each step, lost or duplicated
requests, the host's CPU time per request and cores kept busy (and the load generator's and the whole
machine's, as they share the cores), and its peak RSS. `--workers N` runs the host with N worker processes
(local_host.py --workers). Also the sync path's p50/p95 (one client), the cold start (process start to the first decision, models loaded),
and the compute bound: cores x 1000 / (sum of the steps' median ms). The machine may be shared: the load
average at the start and end of each level is printed beside it. `--backend azurite` needs
AZURITE_CONNECTION_STRING (Blob and Queue on the emulator, records in SQLite).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from scripts.demo import b64, free_port, host_env, launch_host, make_principals, session
from tests.fixtures.photos import astronaut, capture
from tests.fixtures.signatures import make_signature

ROOT = Path(__file__).resolve().parent.parent
TERMINAL = ("accepted", "rejected", "review", "failed")
POLL_SECONDS = 0.2  # with --poll a device polls its request this often; otherwise it holds one read (?wait=)
WAIT_SECONDS = 20


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class PeakRss:
    """Samples the resident memory of a process and its children every 50 ms."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                rss = self.process.memory_info().rss
            except psutil.Error:  # the host is gone
                return
            for child in self.process.children(recursive=True):
                try:
                    rss += child.memory_info().rss
                except psutil.Error:  # a short-lived child ended meanwhile
                    pass
            self.peak = max(self.peak, rss)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> None:
        self.peak = 0


def host_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the host has used so far: its process and its worker processes."""
    process = psutil.Process(pid)
    total = 0.0
    for p in (process, *process.children(recursive=True)):
        try:
            times = p.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def own_cpu_seconds() -> float:
    """CPU time of this process alone (the load generator), without the host it started."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


def start_host(port: int, env: dict[str, str], log_path: Path, workers: int = 1) -> tuple[subprocess.Popen, float]:
    """The host process and the seconds from its start until health answers."""
    t0 = time.perf_counter()
    proc = launch_host(port, env, log_path, "--workers", str(workers), timeout=120, interval=0.02)
    return proc, time.perf_counter() - t0


def enrol_load_subject(port: int, env: dict[str, str], operator_key: str, person: np.ndarray, log_path: Path) -> None:
    """Enrol the subject the attempts claim, with a host of its own that is stopped afterwards (so the host
    measured next starts cold)."""
    proc, _ = start_host(port, env, log_path)
    try:
        session(operator_key).post(f"http://127.0.0.1:{port}/api/v1/subjects/load/enrolment", timeout=300, json={
            "face_images": [b64(capture(person, s)) for s in (1, 2, 3)],
            "signature_images": [b64(make_signature(7, s), "PNG") for s in range(4)],
        }).raise_for_status()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def attempt_body(person: np.ndarray, i: int) -> dict:
    return {"subject_id": "load", "face_image": b64(capture(person, 1000 + i)),
            "signature_image": b64(make_signature(7, 1000 + i), "PNG")}


def run_level(base: str, token: str, bodies: list[dict], clients: int, poll: bool = False) -> dict:
    """Every body once, `clients` at a time; each client posts, then reads its request with ?wait= until it is
    decided (with `poll`, it reads every POLL_SECONDS instead)."""
    local = threading.local()

    def api() -> requests.Session:
        if not hasattr(local, "s"):
            local.s = session(token)
        return local.s

    def one(body: dict) -> dict:
        try:
            return attempt(body)
        except requests.RequestException as exc:  # a dropped connection is a figure, not the end of the run
            return {"error": type(exc).__name__}

    def attempt(body: dict) -> dict:
        t0 = time.perf_counter()
        r = api().post(f"{base}/api/v1/verifications", json=body, timeout=120)
        post_ms = (time.perf_counter() - t0) * 1000
        if r.status_code != 202:
            return {"error": r.status_code}
        location = r.headers["Location"] + ("" if poll else f"?wait={WAIT_SECONDS}")
        while True:
            result = api().get(base + location, timeout=60).json()
            if result["status"] in TERMINAL:
                return {"id": result["id"], "post_ms": post_ms, "total_ms": (time.perf_counter() - t0) * 1000,
                        "status": result["status"], "steps": {k: v["duration_ms"] for k, v in result["steps"].items()}}
            if poll:
                time.sleep(POLL_SECONDS)

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, bodies))
    elapsed = time.perf_counter() - t0
    ok = [r for r in results if "id" in r]
    steps: dict[str, list[float]] = {}
    for r in ok:
        for step, ms in r["steps"].items():
            steps.setdefault(step, []).append(ms)
    return {
        "clients": clients,
        "requests": len(bodies),
        "completed": len(ok),
        "distinct_ids": len({r["id"] for r in ok}),
        "errors": [r["error"] for r in results if "error" in r],
        "throughput_rps": len(ok) / elapsed,
        "post_ms": {"p50": pct([r["post_ms"] for r in ok], 50), "p95": pct([r["post_ms"] for r in ok], 95)},
        "decision_ms": {"p50": pct([r["total_ms"] for r in ok], 50), "p95": pct([r["total_ms"] for r in ok], 95)},
        "steps_ms": {s: {"median": statistics.median(v), "p95": pct(v, 95)} for s, v in steps.items()},
        "outcomes": {s: sum(1 for r in ok if r["status"] == s) for s in TERMINAL if any(r["status"] == s for r in ok)},
        "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,16,64")
    parser.add_argument("--requests", type=int, default=64, help="requests per concurrency level")
    parser.add_argument("--sync-runs", type=int, default=20)
    parser.add_argument("--backend", choices=("embedded", "azurite"), default="embedded")
    parser.add_argument("--workers", type=int, default=1, help="the host's worker processes (local_host.py --workers)")
    parser.add_argument("--poll", action="store_true", help=f"devices poll every {POLL_SECONDS} s instead of one ?wait= read")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bioauth" / "load")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    args = parser.parse_args(argv)

    import shutil

    shutil.rmtree(args.data_dir, ignore_errors=True)
    args.data_dir.mkdir(parents=True)
    settings = {"BIOAUTH_RATE_LIMIT_PER_MINUTE": "0", "BIOAUTH_SPOOF_ACTION": "review"}
    if args.backend == "azurite":
        connection = os.environ.get("AZURITE_CONNECTION_STRING")
        if not connection:
            raise SystemExit("--backend azurite needs AZURITE_CONNECTION_STRING")
        settings.update({"BIOAUTH_STORAGE": "azure", "AzureWebJobsStorage": connection})
    env = host_env(args.data_dir, secrets.token_urlsafe(24), **settings)
    keys = make_principals(args.data_dir, env)
    port = free_port(7073)
    base = f"http://127.0.0.1:{port}"
    person = astronaut()
    levels = [int(c) for c in args.clients.split(",")]
    bodies = [attempt_body(person, i) for i in range(args.requests * len(levels) + args.sync_runs + 1)]

    # Enrol with a first host, then time a fresh process from its start to its first decision (models
    # loaded as a new Functions worker loads them).
    enrol_load_subject(port, env, keys["operator"], person, args.data_dir / "host-enrol.log")

    figures: dict = {"backend": args.backend, "cores": os.cpu_count(), "workers": args.workers,
                     "device_reads": f"poll every {POLL_SECONDS} s" if args.poll else f"?wait={WAIT_SECONDS}"}
    t0 = time.perf_counter()
    proc, health_s = start_host(port, env, args.data_dir / "host.log", args.workers)
    try:
        with PeakRss(proc.pid) as rss:
            device = session(keys["device"])
            first = device.post(f"{base}/api/v1/verifications?mode=sync", json=bodies.pop(), timeout=300)
            first.raise_for_status()
            figures["cold_start_s"] = {"process_to_health": health_s,
                                       "process_to_first_decision": time.perf_counter() - t0}
            figures["idle_rss_mb"] = rss.peak / 2**20

            sync_ms = []
            for _ in range(args.sync_runs):
                t0 = time.perf_counter()
                device.post(f"{base}/api/v1/verifications?mode=sync", json=bodies.pop(), timeout=120).raise_for_status()
                sync_ms.append((time.perf_counter() - t0) * 1000)
            figures["sync_ms"] = {"p50": pct(sync_ms, 50), "p95": pct(sync_ms, 95), "runs": len(sync_ms)}

            figures["levels"] = []
            for clients in levels:
                rss.reset()
                cpu_before, t_level = host_cpu_seconds(proc.pid), time.perf_counter()
                client_before, machine_before = own_cpu_seconds(), psutil.cpu_times()
                level = run_level(base, keys["device"], [bodies.pop() for _ in range(args.requests)], clients, args.poll)
                cpu = host_cpu_seconds(proc.pid) - cpu_before
                wall = time.perf_counter() - t_level
                # The load generator shares the machine: its own CPU and the whole machine's, beside the host's.
                level["client_cores_busy"] = (own_cpu_seconds() - client_before) / wall
                machine = psutil.cpu_times()
                idle = (machine.idle + machine.iowait) - (machine_before.idle + machine_before.iowait)
                level["machine_cores_busy"] = figures["cores"] - idle / wall
                level["host_cpu_ms_per_request"] = cpu * 1000 / max(1, level["completed"])
                level["host_cores_busy"] = cpu / (time.perf_counter() - t_level)
                level["peak_rss_mb"] = rss.peak / 2**20
                figures["levels"].append(level)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    # The bound: every step's compute, one request after another on each core.
    one = figures["levels"][0]["steps_ms"]
    compute_ms = sum(v["median"] for v in one.values())
    figures["compute_ms_per_request"] = compute_ms
    figures["compute_bound_rps"] = figures["cores"] * 1000.0 / compute_ms if compute_ms else float("nan")

    print(f"bioauth load, {args.backend} backend, {figures['cores']} cores, {args.workers} worker process(es),"
          f" devices {figures['device_reads']}")
    cold = figures["cold_start_s"]
    print(f"cold start: health {cold['process_to_health']:.2f} s, first decision {cold['process_to_first_decision']:.2f} s;"
          f" idle RSS {figures['idle_rss_mb']:.0f} MB")
    print(f"sync (1 client): p50 {figures['sync_ms']['p50']:.1f} ms, p95 {figures['sync_ms']['p95']:.1f} ms")
    print("steps (1 client): " + ", ".join(f"{s} {v['median']:.1f}/{v['p95']:.1f}" for s, v in one.items()) + " ms (median/p95)")
    print(f"compute per request {compute_ms:.1f} ms -> bound {figures['compute_bound_rps']:.1f} requests/s")
    print(f"{'clients':>7} {'req/s':>7} {'of bound':>8} {'POST p50':>9} {'POST p95':>9} {'dec p50':>8} {'dec p95':>8}"
          f" {'lost':>5} {'dup':>4} {'CPU ms':>7} {'cores':>6} {'client':>6} {'all':>5} {'RSS MB':>7} {'load':>11}")
    for lv in figures["levels"]:
        lost = lv["requests"] - lv["completed"]
        dup = lv["completed"] - lv["distinct_ids"]
        print(f"{lv['clients']:>7} {lv['throughput_rps']:>7.2f} {lv['throughput_rps'] / figures['compute_bound_rps']:>8.0%}"
              f" {lv['post_ms']['p50']:>9.1f} {lv['post_ms']['p95']:>9.1f} {lv['decision_ms']['p50']:>8.1f}"
              f" {lv['decision_ms']['p95']:>8.1f} {lost:>5} {dup:>4} {lv['host_cpu_ms_per_request']:>7.1f}"
              f" {lv['host_cores_busy']:>6.2f} {lv['client_cores_busy']:>6.2f} {lv['machine_cores_busy']:>5.2f} {lv['peak_rss_mb']:>7.0f} {str(lv['loadavg']):>11}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
