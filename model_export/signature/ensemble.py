"""`python -m model_export signature ensemble --runs RUN_GREY RUN_TWO_VIEWS --out RUN`: two trained runs as one network.

The first run must read the grey canvas (one channel), the second the canvas
and its redrawn strokes (two channels); the ensemble reads the two-channel
input, gives the first network channel 0 and the second both, and
concatenates their features. The result is a run folder (best.pt,
history.json) that `signature export | calibrate | evaluate --run RUN` export
and measure like any other; its choices are made on validation writers (or out of
fold) as for a single network.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    import torch

    p = argparse.ArgumentParser(prog="python -m model_export signature ensemble", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, nargs=2, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    first, second = (torch.load(r / "best.pt", map_location="cpu") for r in args.runs)
    if int(first.get("channels", 1)) != 1 or int(second.get("channels", 1)) != 2 or first["input"] != second["input"]:
        raise SystemExit("expected a one-channel run, then a two-channel run, with the same input size")
    checkpoint = {"members": [{"net": first["net"], "in_channels": 1, "channels": [0]},
                              {"net": second["net"], "in_channels": 2, "channels": [0, 1]}],
                  "input": second["input"], "stroke_width": second["stroke_width"], "channels": 2, "epoch": second["epoch"]}
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, args.out / "best.pt")
    histories = [json.loads((r / "history.json").read_text()) for r in args.runs]
    merged = dict(histories[1])
    merged.update(train_seconds=sum(h["train_seconds"] for h in histories), members=[str(r) for r in args.runs],
                  member_histories=histories)
    (args.out / "history.json").write_text(json.dumps(merged, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
