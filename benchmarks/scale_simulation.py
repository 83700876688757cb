"""What each Azure component carries at 10, 100 and 1,000 verifications/s, what breaks first, and the latency of
the queue chain with instance cold starts: a plan on paper from the measured profile and a seeded discrete-event
simulation from the measured step times.

    python benchmarks/scale_simulation.py [--profile benchmarks/report/operation-profile-<date>.json] [--seconds 30]

Inputs, all measured on the development machine and committed: the operation profile (operations per
verification), the step times of `benchmarks/report/load-after-2w-wait-azurite-1.json` at one client (Azure SDK
calls against Azurite included), the host CPU per request of that run, and the cold start of REPORT.md. The
documented limits are written below with their page. Writes `scale-<date>.json` and `.md` under benchmarks/report/.

The simulation (plain Python, seeded): Poisson arrivals; the POST and the held status read on the HTTP instances
(Flex scales all HTTP functions as one group), each step on its own instances (per-function scaling), one CPU
execution at a time per instance; a queue hop costs storage round trips plus the trigger's pickup; every second
the scale controller asks for the instances the backlog needs, each ready after a cold start, all within the app's
maximum instance count. A held read learns the decision at its next re-read (the decision is always made on
another instance: queue functions do not run on the HTTP instances).
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import math
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "benchmarks" / "report"
sys.path.insert(0, str(ROOT / "benchmarks"))

from cost_model import lines_for, latest_profile  # noqa: E402 - the same reading of the profile as the cost model
from report_files import write_report  # noqa: E402

RATES = (10, 100, 1000)
STEPS = ("face-crop", "antispoof", "face-match", "signature", "decide")
STEP_TIMES_FILE = REPORT / "load-after-2w-wait-azurite-1.json"

# Documented limits (read 2026-12-07).
LIMITS = {
    "queue_messages_per_s_per_queue": (2000, "https://learn.microsoft.com/azure/storage/queues/scalability-targets "
                                             "(target for a single queue, 1 KiB messages)"),
    "storage_requests_per_s_per_account": (20000, "https://learn.microsoft.com/azure/storage/queues/scalability-targets "
                                                  "(20,000 messages/s per account; taken as the account's request rate, "
                                                  "blobs included: an assumption)"),
    "cosmos_serverless_ru_per_s_per_container": (5000, "https://learn.microsoft.com/azure/cosmos-db/serverless-performance"),
    "cosmos_provisioned_ru_per_s_per_container": (1000000, "https://learn.microsoft.com/azure/cosmos-db/concepts-limits "
                                                 "(10,000 RU/s per partition: records are partitioned by /id, so spread)"),
    "flex_instances_configured": (40, "infra/main.bicep maximumInstanceCount (prod.bicepparam: 40)"),
    "flex_instances_platform": (1000, "https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan "
                                      "(scale-out instances, max)"),
    "frontdoor_requests_per_min_per_client_ip": (120, "infra/main.bicep rateLimitPerMinute (WAF rule per client IP)"),
    "frontdoor_requests_per_min_per_site": (1200, "infra/modules/frontdoor.bicep siteRateLimitPerMinute"),
}

# Assumptions of the simulation, each a knob on the command line.
COLD_START_S = 1.96        # measured: process to first decision with two workers on Azurite (REPORT.md); platform time not included
PLATFORM_START_S = 0.5     # assumption: Flex allocating an instance before the process starts
QUEUE_HOP_S = 0.02         # assumption: put + get round trips in one region
PICKUP_MAX_S = 0.1         # assumption: the queue trigger's pickup under load, uniform 0..this
HTTP_CONCURRENCY = 16      # assumption: per-instance HTTP concurrency (the Bicep leaves the platform default)
CPU_SCALE = 1.0            # assumption: an Azure instance's core as fast as the development machine's
QUEUE_TARGET_PER_INSTANCE = 6  # host.json batchSize 4 + newBatchThreshold 2: messages one instance takes in flight


class Pool:
    """The instances of one function (or of the HTTP group): slots per instance, a FIFO of waiting work."""

    def __init__(self, name: str, slots: int, warm: int):
        self.name, self.slots = name, slots
        self.ready = warm
        self.starting = 0
        self.busy = 0
        self.waiting: list = []
        self.peak = warm

    @property
    def capacity(self) -> int:
        return self.ready * self.slots


def lognormal(rng: random.Random, median: float, p95: float) -> float:
    sigma = max(1e-3, math.log(max(p95, median * 1.001) / median) / 1.645)
    return median * math.exp(rng.gauss(0.0, sigma))


def recheck_lateness(decided_after: float, backoff: bool) -> tuple[float, int]:
    """When a held read that began `decided_after` seconds before the decision sees it, and its record reads."""
    if not backoff:
        reads = math.floor(decided_after / 0.2) + 2
        return (reads - 1) * 0.2 - decided_after, reads
    at, gap, reads = 0.0, 0.2, 1
    while at < decided_after:
        at += gap
        gap = min(gap * 2, 5.0)
        reads += 1
    return at - decided_after, reads


def simulate(rate: float, seconds: float, step_times: dict, post_ms: tuple[float, float], seed: int,
             max_instances: int, backoff: bool, http_concurrency: int, prewarmed: bool) -> dict:
    """`prewarmed`: each function starts with the instances the rate needs (traffic that grew slowly); otherwise with
    one instance each (a surge from quiet), within `max_instances` either way."""
    rng = random.Random(seed)

    def warm(busy: float, per_instance: int) -> int:
        return max(1, math.ceil(busy * 1.2 / per_instance)) if prewarmed else 1

    hold = sum(m for m, _ in step_times.values()) / 1000 + len(STEPS) * (QUEUE_HOP_S + PICKUP_MAX_S / 2) + 0.3
    http = Pool("http", http_concurrency, warm(rate * (post_ms[0] / 1000 + hold), http_concurrency))
    steps = {s: Pool(s, 1, warm(rate * step_times[s][0] / 1000, 1)) for s in STEPS}
    pools = {"http": http, **steps}
    while sum(p.ready for p in pools.values()) > max_instances:  # the cap applies to the warm start too
        biggest = max(pools.values(), key=lambda p: p.ready)
        biggest.ready -= 1
        biggest.peak = biggest.ready
    events: list = []
    seq = 0

    def push(t, kind, *data):
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, data))

    t = 0.0
    n = 0
    while True:
        t += rng.expovariate(rate)
        if t > seconds:
            break
        push(t, "arrive", n)
        n += 1
    push(1.0, "scale")
    arrived: dict[int, float] = {}
    posted: dict[int, float] = {}
    decided: dict[int, float] = {}
    reads: list[int] = []
    seen: dict[int, float] = {}
    cold_waits = 0

    def start(pool: Pool, now: float, job) -> None:
        pool.busy += 1
        push(now + job[1], "done", pool.name, job[0], job[2])

    def submit(pool: Pool, now: float, vid: int, service: float, what: str) -> None:
        if pool.busy < pool.capacity:
            start(pool, now, (vid, service, what))
        else:
            pool.waiting.append((vid, service, what))

    def service_of(step: str) -> float:
        m, p = step_times[step]
        return lognormal(rng, m, p) / 1000 * CPU_SCALE

    while events:
        now, _, kind, data = heapq.heappop(events)
        if kind == "arrive":
            vid = data[0]
            arrived[vid] = now
            submit(pools["http"], now, vid, lognormal(rng, *post_ms) / 1000 * CPU_SCALE, "post")
        elif kind == "done":
            name, vid, what = data
            pool = pools[name]
            pool.busy -= 1
            if pool.waiting and pool.busy < pool.capacity:
                start(pool, now, pool.waiting.pop(0))
            if what == "post":
                posted[vid] = now
                hop = QUEUE_HOP_S + rng.uniform(0, PICKUP_MAX_S)
                push(now + hop, "step", vid, 0)
                pools["http"].busy += 1  # the device's held read takes a slot until it learns the decision
                if pools["http"].busy > pools["http"].capacity:
                    cold_waits += 1  # counted: a held read beyond the group's slots waits for a new instance
            elif what == "held":
                pass
            else:
                index = STEPS.index(what)
                if index + 1 < len(STEPS):
                    push(now + QUEUE_HOP_S + rng.uniform(0, PICKUP_MAX_S), "step", vid, index + 1)
                else:
                    decided[vid] = now
                    late, n_reads = recheck_lateness(now - posted[vid], backoff)
                    reads.append(n_reads)
                    seen[vid] = now + late + 0.005
                    push(seen[vid], "release", vid)
        elif kind == "step":
            vid, index = data
            submit(pools[STEPS[index]], now, vid, service_of(STEPS[index]), STEPS[index])
        elif kind == "release":
            pool = pools["http"]
            pool.busy -= 1
            while pool.waiting and pool.busy < pool.capacity:
                start(pool, now, pool.waiting.pop(0))
        elif kind == "ready":
            pool = pools[data[0]]
            pool.starting -= 1
            pool.ready += 1
            pool.peak = max(pool.peak, pool.ready)
            while pool.waiting and pool.busy < pool.capacity:
                start(pool, now, pool.waiting.pop(0))
        elif kind == "scale":
            total = sum(p.ready + p.starting for p in pools.values())
            extras = {}
            for pool in pools.values():
                demand = pool.busy + len(pool.waiting)
                per_instance = pool.slots if pool.name == "http" else QUEUE_TARGET_PER_INSTANCE
                extras[pool.name] = max(0, math.ceil(demand / per_instance) - pool.ready - pool.starting)
            room = max(0, max_instances - total)
            asked = sum(extras.values())
            for name, extra in extras.items():  # within the app's maximum, shared in proportion to what each asks
                granted = extra if asked <= room else math.floor(extra * room / asked)
                pool = pools[name]
                for _ in range(granted):
                    pool.starting += 1
                    push(now + PLATFORM_START_S + COLD_START_S * rng.uniform(0.8, 1.2), "ready", pool.name)
            if now < seconds + 120:
                push(now + 1.0, "scale")
            else:
                break

    done = [seen[v] - arrived[v] for v in seen]
    steady = [seen[v] - arrived[v] for v in seen if arrived[v] > min(10.0, seconds / 2)]
    lost = n - len(seen)

    def pct(values, q):
        return round(sorted(values)[min(len(values) - 1, int(q / 100 * len(values)))] * 1000, 1) if values else None

    return {"rate": rate, "seconds": seconds, "arrived": n, "decided_within_run": len(seen), "not_decided": lost,
            "decision_ms": {"p50": pct(done, 50), "p95": pct(done, 95), "p99": pct(done, 99), "max": pct(done, 100)},
            "steady_decision_ms": {"p50": pct(steady, 50), "p95": pct(steady, 95), "p99": pct(steady, 99)},
            "peak_instances": {name: p.peak for name, p in pools.items()},
            "peak_instances_total": sum(p.peak for p in pools.values()),
            "held_read_record_reads_mean": round(statistics.mean(reads), 2) if reads else None,
            "held_reads_beyond_http_slots": cold_waits}


def component_loads(rate: float, per_verification: dict, held_reads: float, host_cpu_ms: float,
                    http_concurrency: int, hold_s: float) -> list[dict]:
    """What each component carries at `rate` against its documented limit."""
    ops = per_verification
    queue_msgs = rate * 1.0  # each step queue takes one message per verification
    queue_ops_per_queue = rate * 3.0  # put, get (one per message at best), delete
    storage_req = rate * (ops["queue_ops"] + ops["blob_ops"])
    ru = rate * (ops["ru"] + max(0.0, held_reads - ops["held_reads_in_profile"]) * ops["ru_per_record_read"])
    instances_cpu = rate * host_cpu_ms / 1000 / CPU_SCALE
    instances_http = rate * hold_s / http_concurrency
    rows = [
        ("Storage queue, one step queue: messages/s", queue_msgs, "queue_messages_per_s_per_queue"),
        ("Storage queue, one step queue: operations/s (put, get, delete)", queue_ops_per_queue, "queue_messages_per_s_per_queue"),
        ("Storage account: requests/s (queues and blobs)", storage_req, "storage_requests_per_s_per_account"),
        ("Cosmos DB serverless: RU/s", ru, "cosmos_serverless_ru_per_s_per_container"),
        ("Cosmos DB provisioned: RU/s per container", ru, "cosmos_provisioned_ru_per_s_per_container"),
        ("Flex instances (cores busy at the measured CPU per verification + held reads' HTTP slots)",
         instances_cpu + instances_http, "flex_instances_configured"),
        ("Flex instances against the platform maximum", instances_cpu + instances_http, "flex_instances_platform"),
    ]
    return [{"component": name, "load": round(load, 1), "limit": LIMITS[key][0], "limit_source": LIMITS[key][1],
             "share_of_limit": round(load / LIMITS[key][0], 3), "breaks_at_rate": round(LIMITS[key][0] / (load / rate), 1)}
            for name, load, key in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=30.0, help="simulated seconds of arrivals at each rate")
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--max-instances", type=int, default=1000, help="the app's maximum instance count in the simulation")
    parser.add_argument("--http-concurrency", type=int, default=HTTP_CONCURRENCY)
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)

    profile_path = (args.profile or latest_profile()).resolve()
    profile = json.loads(profile_path.read_text())
    azurite = next(b for b in profile["backends"] if b["backend"] == "azurite")
    kind = azurite["per_verification"]["async-wait-accepted"]
    cost_lines = lines_for(kind["counts"], kind["bytes"], 1.0)
    record_reads = sum(v for k, v in kind["counts"].items() if k.startswith("record.read."))
    read_ru = cost_lines["Cosmos DB request units"]["read_ru"]
    per_verification = {
        "queue_ops": cost_lines["Storage queue operations"]["quantity"],
        "blob_ops": cost_lines["Blob operations"]["quantity"],
        "ru": cost_lines["Cosmos DB request units"]["quantity"],
        "ru_per_record_read": read_ru / record_reads if record_reads else 1.0,
        "held_reads_in_profile": 0.0,
    }
    load = json.loads(STEP_TIMES_FILE.read_text())
    one = next(level for level in load["levels"] if level["clients"] == 1)
    step_times = {s: (one["steps_ms"][s]["median"], one["steps_ms"][s]["p95"]) for s in STEPS}
    post_ms = (one["post_ms"]["p50"], one["post_ms"]["p95"])
    host_cpu_ms = min(level["host_cpu_ms_per_request"] for level in load["levels"])

    runs = {}
    for rate in RATES:
        for name, backoff, prewarmed, cap in (
                ("warm, back-off re-reads", True, True, args.max_instances),
                ("warm, re-read every 0.2 s", False, True, args.max_instances),
                ("surge from one instance per function, back-off", True, False, args.max_instances),
                ("warm, app capped at 40 instances (infra today)", True, True, 40)):
            runs[f"{rate}/s {name}"] = simulate(rate, args.seconds, step_times, post_ms, args.seed, cap, backoff,
                                                args.http_concurrency, prewarmed)
    loads = {}
    unloaded_hold_s = (runs[f"{RATES[0]}/s warm, back-off re-reads"]["steady_decision_ms"]["p50"] or 0) / 1000
    for rate in RATES:
        sim = runs[f"{rate}/s warm, back-off re-reads"]
        hold_s = unloaded_hold_s  # a held read lasts the unloaded chain's time: the load each component must carry
        loads[str(rate)] = component_loads(rate, per_verification, sim["held_read_record_reads_mean"] or 1.0,
                                           host_cpu_ms, args.http_concurrency, hold_s)
    first = {rate: max(rows, key=lambda r: r["share_of_limit"]) for rate, rows in loads.items()}
    report = {"date": dt.date.today().isoformat(), "profile": str(profile_path.relative_to(ROOT)),
              "step_times_ms": step_times, "post_ms": post_ms, "host_cpu_ms_per_verification": host_cpu_ms,
              "per_verification": per_verification, "limits": {k: {"value": v[0], "source": v[1]} for k, v in LIMITS.items()},
              "assumptions": {"cold_start_s": COLD_START_S, "platform_start_s": PLATFORM_START_S, "queue_hop_s": QUEUE_HOP_S,
                              "pickup_max_s": PICKUP_MAX_S, "http_concurrency": args.http_concurrency, "cpu_scale": CPU_SCALE,
                              "seed": args.seed, "seconds": args.seconds},
              "loads": loads, "breaks_first": {r: first[r]["component"] for r in first}, "simulation": runs}
    stem = f"scale-{report['date']}"
    write_report(args.out, stem, report, markdown(report))
    return 0


def markdown(report: dict) -> str:
    out = [f"# Scale plan and simulation ({report['date']})", "",
           f"Profile `{report['profile']}`; step times (ms, median/p95) {report['step_times_ms']}; POST {report['post_ms']}; "
           f"host CPU per verification {report['host_cpu_ms_per_verification']:.0f} ms (Azure SDK calls included). "
           f"Per verification: {report['per_verification']['queue_ops']:g} queue operations, "
           f"{report['per_verification']['blob_ops']:g} blob operations, {report['per_verification']['ru']:g} RU (estimated).", ""]
    for rate, rows in report["loads"].items():
        out += [f"## {rate} verifications/s", "", "| component | load | limit | share | breaks at (verifications/s) |",
                "| --- | --- | --- | --- | --- |"]
        for r in sorted(rows, key=lambda r: -r["share_of_limit"]):
            out.append(f"| {r['component']} | {r['load']:g} | {r['limit']:g} | {r['share_of_limit']:.0%} | {r['breaks_at_rate']:g} |")
        out += ["", f"First to break: **{report['breaks_first'][rate]}**.", ""]
    out += ["## Simulated latency, POST to the decision seen by the held read (ms)", "",
            "| run | arrived | decided | p50 | p95 | p99 | after 10 s: p50 / p95 | peak instances (http, steps) | record reads per held read |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in report["simulation"].items():
        d, s = r["decision_ms"], r["steady_decision_ms"]
        out.append(f"| {name} | {r['arrived']} | {r['decided_within_run']} | {d['p50']} | {d['p95']} | {d['p99']} | "
                   f"{s['p50']} / {s['p95']} | {r['peak_instances_total']} ({r['peak_instances']['http']}, "
                   f"{r['peak_instances_total'] - r['peak_instances']['http']}) | {r['held_read_record_reads_mean']} |")
    out += ["", "Limits:", ""] + [f"- {k}: {v['value']:g} ({v['source']})" for k, v in report["limits"].items()]
    out += ["", f"Assumptions: {report['assumptions']}"]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
