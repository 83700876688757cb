"""What 1,000 verifications cost on Azure, line by line, from the measured operation profile.

    python benchmarks/cost_model.py [--profile benchmarks/report/operation-profile-<date>.json] [--review-share 0.1]

Reads the counted profile (benchmarks/operation_profile.py) and prices each operation with the unit prices
below, for three ways a device can use the service: the sync path, the async path read once with `?wait=`,
and the async path with a callback only. Writes `cost-model-<date>.json` and `.md` under benchmarks/report/.

Every price carries the date it was read, the page it was read from and whether it could be confirmed.
The official price pages (azure.microsoft.com/pricing) could not be opened from where this was written;
where a figure comes from a secondary page or from the model's own assumption, it says so. Check the
`confirmed: False` lines against the Azure pricing calculator for your region before relying on them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from report_files import write_report  # the script's own folder: benchmarks/

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "benchmarks" / "report"
READ_ON = "2026-12-07"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str
    confirmed: bool
    note: str = ""


PRICES = {
    # Azure Functions, Flex Consumption, on demand (no always-ready instances), pay as you go, East US.
    "flex_gb_second": Price(0.000026, "GB-s of instance memory while executing",
                            "https://modal.com/blog/azure-function-pricing-guide (May 2025; secondary page)", False),
    "flex_execution": Price(0.40 / 1e6, "execution",
                            "https://modal.com/blog/azure-function-pricing-guide (cut off in the excerpt read)", False,
                            "$0.40 per million assumed"),
    # Storage account, general purpose v2, LRS, hot.
    "queue_class1": Price(0.04 / 1e4, "queue operation: put, update (renew)",
                          "assumption; a 2018 secondary page gave 0.0068 EUR per 10,000 (RA-GRS, GPv1)", False,
                          "GPv2 raised transaction prices; high side chosen"),
    "queue_class2": Price(0.004 / 1e4, "queue operation: get, delete",
                          "assumption (class 2 about a tenth of class 1 in GPv2)", False),
    "blob_write": Price(0.065 / 1e4, "blob write operation (Put Blob)", "assumption: hot LRS write operations", False),
    "blob_read": Price(0.005 / 1e4, "blob read operation (Get Blob)", "assumption: hot LRS read operations", False),
    "blob_list": Price(0.065 / 1e4, "blob list operation", "assumption: priced as writes", False),
    "blob_gb_month": Price(0.018, "GB-month stored, hot LRS",
                           "https://2kabhishek.github.io/AZ-900/Notes/Azure-Storage-Resources ('~1.8 cents per GB')", False),
    # Cosmos DB for NoSQL, one region.
    "cosmos_serverless_ru": Price(0.25 / 1e6, "request unit (serverless)", "assumption: $0.25 per million RU", False),
    "cosmos_provisioned_ru_s_hour": Price(0.008 / 100, "RU/s provisioned for an hour (manual throughput)",
                                          "assumption: $0.008 per 100 RU/s per hour", False),
    "cosmos_gb_month": Price(0.25, "GB-month stored", "assumption", False),
    # Key Vault standard: secret operations.
    "keyvault_operation": Price(0.03 / 1e4, "secret operation",
                                "https://caleta.io/blog/key-vault-costs-enterprise-scale/ ('roughly 0.024 per 10,000')",
                                False, "$0.03 per 10,000 used"),
    # Front Door Standard.
    "frontdoor_base_month": Price(35.0, "profile per month",
                                  "https://blog.cdnsun.com/microsoft-azure-front-door-pricing/ (2026)", True),
    "frontdoor_request": Price(0.009 / 1e4, "request", "https://blog.cdnsun.com/microsoft-azure-front-door-pricing/ "
                               "(Standard, $0.009 per 10,000; another page gives $0.01)", True),
    "frontdoor_egress_gb": Price(0.083, "GB edge to client (first 10 TB, North America/Europe)",
                                 "https://blog.cdnsun.com/microsoft-azure-front-door-pricing/", True),
    "frontdoor_to_origin_gb": Price(0.02, "GB edge to origin (the device's upload reaching the Function App)",
                                    "assumption", False),
    # Azure Monitor: Application Insights (workspace-based) ingestion as analytics logs.
    "log_ingest_gb": Price(2.30, "GB ingested (analytics logs, pay as you go)", "assumption: $2.30 per GB", False,
                           "first 5 GB a month free, ignored here"),
}

# Sizes and shares the profile cannot measure: each stated, each an assumption.
INSTANCE_GB = 2.048           # infra/modules/functionapp-flex.bicep: instanceMemoryMB 2048
COSMOS_READ_RU_PER_KB = 1.0   # a point read of a 1 KB item is 1 RU (Cosmos DB docs); larger items scale about linearly
COSMOS_WRITE_RU_PER_KB = 6.0  # assumption: a write of a 1 KB item with default (all-path) indexing is about 5-6 RU
COSMOS_QUERY_RU = 3.0         # assumption: a single-partition query by field (credentials by key id)
TELEMETRY_ITEM_BYTES = 700    # assumption: a request or dependency item as billed in Application Insights
LOG_ENVELOPE_BYTES = 300      # assumption: columns a trace item adds to its message
RETENTION_DAYS = 30           # blobs (images, crops, review copies) kept a month; records the same
POLL_GETS_PER_MESSAGE = 1.0   # on Azure the queue trigger's GetMessages: at least one per message batch (batchSize 4),
#                               plus empty polls; one per message is assumed under steady load

PATHS = {
    "sync": ("sync-accepted", "sync-review"),
    "async + ?wait": ("async-wait-accepted", "async-wait-review"),
    "async + callback only": ("async-callback-accepted", "async-callback-review"),
}


def kib_ceil(size_bytes: float, count: float) -> float:
    """Billing units of 1 KB for `count` items totalling `size_bytes` (each item at least 1 KB)."""
    if not count:
        return 0.0
    return count * max(1.0, math.ceil(size_bytes / count / 1024))


def lines_for(counts: dict[str, float], sizes: dict[str, float], wall_scale: float) -> dict[str, dict]:
    """The billable quantities of one verification and what they cost (per verification)."""
    def total(prefix: str) -> float:
        return sum(v for k, v in counts.items() if k.startswith(prefix))

    def total_bytes(prefix: str) -> float:
        return sum(v for k, v in sizes.items() if k.startswith(prefix))

    out: dict[str, dict] = {}
    executions = total("execution.")
    exec_ms = total_bytes("execution.") * wall_scale
    out["Functions executions"] = {"quantity": executions, "unit": "executions",
                                   "usd": executions * PRICES["flex_execution"].usd}
    gbs = INSTANCE_GB * exec_ms / 1000.0
    out["Functions execution time (on demand)"] = {"quantity": round(gbs, 4), "unit": "GB-s",
                                                   "usd": gbs * PRICES["flex_gb_second"].usd}

    sends, renews = total("queue.send."), total("queue.renew.")
    deletes = total("queue.delete.")
    received = total("queue.received.")
    gets = received * POLL_GETS_PER_MESSAGE
    out["Storage queue operations"] = {
        "quantity": sends + renews + deletes + gets, "unit": "operations",
        "usd": (sends + renews) * PRICES["queue_class1"].usd + (deletes + gets) * PRICES["queue_class2"].usd}

    writes, reads, lists = total("blob.write."), total("blob.read."), total("blob.list.")
    stored_gb = total_bytes("blob.write.") / 1e9
    out["Blob operations"] = {"quantity": writes + reads + lists, "unit": "operations",
                              "usd": writes * PRICES["blob_write"].usd + reads * PRICES["blob_read"].usd
                              + lists * PRICES["blob_list"].usd}
    out["Blob capacity (kept 30 days)"] = {"quantity": round(stored_gb * 1e6, 1), "unit": "KB-month",
                                           "usd": stored_gb * PRICES["blob_gb_month"].usd * RETENTION_DAYS / 30}

    read_ru = sum(kib_ceil(sizes.get(k, 0), v) * COSMOS_READ_RU_PER_KB for k, v in counts.items() if k.startswith("record.read."))
    write_ru = sum(kib_ceil(sizes.get(k, 0), v) * COSMOS_WRITE_RU_PER_KB for k, v in counts.items()
                   if k.startswith(("record.create.", "record.replace.", "record.upsert.")))
    query_ru = total("record.query.") * COSMOS_QUERY_RU
    ru = read_ru + write_ru + query_ru
    out["Cosmos DB request units"] = {"quantity": round(ru, 1), "unit": "RU", "read_ru": round(read_ru, 1),
                                      "write_ru": round(write_ru, 1), "query_ru": round(query_ru, 1),
                                      "usd": ru * PRICES["cosmos_serverless_ru"].usd}

    http = sum(v for k, v in counts.items() if k.startswith("execution.http."))
    upload_gb = total_bytes("blob.write.images") * 1.37 / 1e9  # base64 in JSON: about 4/3 of the stored images
    out["Front Door requests and transfer"] = {
        "quantity": http, "unit": "requests",
        "usd": http * PRICES["frontdoor_request"].usd + upload_gb * PRICES["frontdoor_to_origin_gb"].usd
        + http * 3e-6 * PRICES["frontdoor_egress_gb"].usd}  # answers: about 3 KB each

    out["Key Vault"] = {"quantity": total("keyvault."), "unit": "secret reads", "usd": total("keyvault.") * PRICES["keyvault_operation"].usd}

    dependencies = total("blob.") + total("queue.send.") + total("queue.delete.") + total("queue.renew.") + total("record.") + total("outbound.")
    spans = executions + dependencies
    log_records, log_bytes = total("log."), total_bytes("log.")
    ingest_gb = (spans * TELEMETRY_ITEM_BYTES + log_bytes + log_records * LOG_ENVELOPE_BYTES) / 1e9
    out["Application Insights ingestion"] = {"quantity": round(ingest_gb * 1e6, 1), "unit": "KB",
                                             "spans": spans, "log_records": log_records,
                                             "usd": ingest_gb * PRICES["log_ingest_gb"].usd}
    return out


def provisioned_cosmos_usd_per_1000(ru_per_verification: float, rate_per_second: float) -> float:
    """Manual throughput sized to the rate (minimum 400 RU/s, rounded up to 100): what 1,000 verifications pay."""
    ru_s = max(400.0, math.ceil(ru_per_verification * rate_per_second / 100) * 100)
    usd_per_second = ru_s * PRICES["cosmos_provisioned_ru_s_hour"].usd / 3600
    return usd_per_second / rate_per_second * 1000


def model(profile: dict, backend: str, review_share: float, wall_scale: float) -> dict:
    b = next(x for x in profile["backends"] if x["backend"] == backend)
    per = b["per_verification"]
    result = {}
    for path, (accepted, review) in PATHS.items():
        mixed_counts: dict[str, float] = {}
        mixed_sizes: dict[str, float] = {}
        for kind, share in ((accepted, 1 - review_share), (review, review_share)):
            for k, v in per[kind]["counts"].items():
                mixed_counts[k] = mixed_counts.get(k, 0) + v * share
            for k, v in per[kind]["bytes"].items():
                mixed_sizes[k] = mixed_sizes.get(k, 0) + v * share
        lines = lines_for(mixed_counts, mixed_sizes, wall_scale)
        ru = lines["Cosmos DB request units"]["quantity"]
        serverless_total = sum(x["usd"] for x in lines.values()) * 1000
        provisioned = {rate: provisioned_cosmos_usd_per_1000(ru, rate) for rate in (10, 100, 1000)}
        result[path] = {
            "lines_per_1000": {name: {**x, "quantity": round(x["quantity"] * 1000, 1), "usd": round(x["usd"] * 1000, 5)}
                               for name, x in lines.items()},
            "total_usd_per_1000_cosmos_serverless": round(serverless_total, 4),
            "cosmos_provisioned_usd_per_1000_at_rate": {str(k): round(v, 5) for k, v in provisioned.items()},
            "total_usd_per_1000_cosmos_provisioned_at_rate": {
                str(k): round(serverless_total - lines["Cosmos DB request units"]["usd"] * 1000 + v, 4)
                for k, v in provisioned.items()},
            "dominant_line": max(lines, key=lambda name: lines[name]["usd"]),
        }
    return result


def markdown(report: dict) -> str:
    out = [f"# Cost per 1,000 verifications on Azure ({report['date']})", "",
           f"From `{report['profile']}` (backend `{report['backend']}`, its execution times), review share "
           f"{report['review_share']:.0%}, prices read {READ_ON}. USD, pay as you go, one region. "
           "Fixed monthly fees (Front Door's $35 base, Key Vault, always-ready instances) are not per verification "
           "and are left out; Key Vault is read once per instance start (5 secrets), not per verification.", ""]
    paths = list(report["paths"])
    names = list(report["paths"][paths[0]]["lines_per_1000"])
    out += ["| line | " + " | ".join(paths) + " |", "| --- |" + " --- |" * len(paths)]
    for name in names:
        cells = []
        for p in paths:
            x = report["paths"][p]["lines_per_1000"][name]
            cells.append(f"${x['usd']:.4f} ({x['quantity']:g} {x['unit']})")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("| **total, Cosmos DB serverless** | " + " | ".join(
        f"**${report['paths'][p]['total_usd_per_1000_cosmos_serverless']:.4f}**" for p in paths) + " |")
    for rate in ("10", "100", "1000"):
        out.append(f"| total, Cosmos DB provisioned sized for {rate}/s | " + " | ".join(
            f"${report['paths'][p]['total_usd_per_1000_cosmos_provisioned_at_rate'][rate]:.4f}" for p in paths) + " |")
    out.append("| dominant line | " + " | ".join(report["paths"][p]["dominant_line"] for p in paths) + " |")
    out += ["", "Prices used:", "", "| price | USD | per | source | confirmed |", "| --- | --- | --- | --- | --- |"]
    for name, p in PRICES.items():
        out.append(f"| {name} | {p.usd:.3g} | {p.unit} | {p.source}{' — ' + p.note if p.note else ''} | "
                   f"{'yes' if p.confirmed else 'no (assumption)'} |")
    return "\n".join(out)


def latest_profile() -> Path:
    candidates = sorted(p for p in REPORT.glob("operation-profile-*.json") if "before" not in p.name)
    if not candidates:
        sys.exit("no operation profile in benchmarks/report: run benchmarks/operation_profile.py first")
    return candidates[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--backend", default="azurite", help="whose execution times to use (azurite: Azure SDK calls)")
    parser.add_argument("--review-share", type=float, default=0.1, help="share of verifications that go to review")
    parser.add_argument("--wall-scale", type=float, default=1.0,
                        help="scale the measured execution wall times (e.g. 0.5 if an Azure instance is twice as fast)")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    path = (args.profile or latest_profile()).resolve()
    profile = json.loads(path.read_text())
    report = {"date": dt.date.today().isoformat(), "profile": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
              "backend": args.backend, "review_share": args.review_share, "wall_scale": args.wall_scale,
              "prices": {k: asdict(v) for k, v in PRICES.items()},
              "assumptions": {"instance_gb": INSTANCE_GB, "cosmos_read_ru_per_kb": COSMOS_READ_RU_PER_KB,
                              "cosmos_write_ru_per_kb": COSMOS_WRITE_RU_PER_KB, "cosmos_query_ru": COSMOS_QUERY_RU,
                              "telemetry_item_bytes": TELEMETRY_ITEM_BYTES, "log_envelope_bytes": LOG_ENVELOPE_BYTES,
                              "retention_days": RETENTION_DAYS, "queue_gets_per_message": POLL_GETS_PER_MESSAGE},
              "paths": model(profile, args.backend, args.review_share, args.wall_scale)}
    stem = f"cost-model-{report['date']}"
    write_report(args.out, stem, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
