"""Plots for benchmarks/REPORT.md from the JSON that benchmarks/load.py wrote.

    python benchmarks/plot_report.py [--dir benchmarks/report] [--backend embedded|azurite]

Reads <dir>/load-<label>-<backend>-<n>.json (label e.g. before, after-2w-wait: the version, the host's
worker processes and how devices read) and draws, for one backend, throughput against clients (with each label's compute
bound) and submit-to-decision p50 against clients into <dir>/throughput.png and <dir>/latency.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def runs(folder: Path, backend: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path in sorted(folder.glob(f"load-*-{backend}-*.json")):
        parts = path.stem.split("-")
        found.setdefault("-".join(parts[1:-2]), []).append(json.loads(path.read_text()))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / "report")
    parser.add_argument("--backend", default="embedded", help="whose runs to draw (embedded or azurite)")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = runs(args.dir, args.backend)
    if not found:
        raise SystemExit(f"no load-*-{args.backend}-*.json in {args.dir}")
    for figure, key, ylabel, name in (("throughput", "throughput_rps", "requests/s", "throughput.png"),
                                      ("latency", "decision_ms", "submit-to-decision p50 (ms)", "latency.png")):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for label, results in sorted(found.items()):
            style = "--" if label.startswith("before") else "-"
            for i, r in enumerate(results):
                clients = [lv["clients"] for lv in r["levels"]]
                values = [lv[key] if key == "throughput_rps" else lv[key]["p50"] for lv in r["levels"]]
                line, = ax.plot(clients, values, style, marker="o", label=label if i == 0 else None,
                                color=ax.lines[-1].get_color() if i else None)
            if figure == "throughput":
                bound = sum(r["compute_bound_rps"] for r in results) / len(results)
                ax.axhline(bound, color=line.get_color(), linestyle=":", linewidth=1)
                ax.axhline(0.7 * bound, color=line.get_color(), linestyle=(0, (1, 4)), linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 4, 16, 64], labels=["1", "4", "16", "64"])
        ax.set_xlabel(f"concurrent clients (async, {args.backend})")
        ax.set_ylabel(ylabel)
        if figure == "throughput":
            ax.set_title("Throughput; dotted: compute bound of each run's steps, fine dots: 70% of it")
        else:
            ax.set_yscale("log")
            ax.set_title("Submit-to-decision median")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.dir / name, dpi=110)
        print(f"written: {args.dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
