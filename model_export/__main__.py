"""`python -m model_export <model> <step> [options]`: one pipeline per model, one verb per step.

Every pipeline works in a run folder (model_export/runs/<model>/ by default):

    face       fetch -> calibrate -> evaluate -> ship
    antispoof  convert -> calibrate -> evaluate -> ship
    signature  train -> export -> calibrate -> evaluate -> ship
    reviews    export                  (reviewed cases as a data set for retraining)
    system     calibrate -> evaluate   (each check's LLR; the fused decision policy and its report)

fetch/convert/train/export make the network, calibrate writes the run's
thresholds, evaluate writes a report (never a manifest), and ship is the only
step of a model's pipeline that writes into models/. The system steps do not
follow that shape yet: they write each shipped manifest's `calibration.llr`
and models/decision/ in place (re-run `system calibrate` after a ship).
"""

from __future__ import annotations

import functools
import importlib
import sys

# model -> step -> "module:function"; each function takes argv (list[str]) and returns an exit code.
PIPELINES: dict[str, dict[str, str]] = {
    "face": {
        "fetch": "model_export.face.fetch:main",
        "edgeface": "model_export.face.edgeface:main",
        "pairset": "model_export.face.pairset:main",
        "calibrate": "model_export.face.calibrate:main",
        "evaluate": "model_export.face.evaluate:main",
        "ship": "model_export.common.shipping:main",
    },
    "antispoof": {
        "convert": "model_export.antispoof.convert:main",
        "calibrate": "model_export.antispoof.calibrate:main",
        "evaluate": "model_export.antispoof.evaluate:main",
        "ship": "model_export.common.shipping:main",
    },
    "signature": {
        "train": "model_export.signature.train:main",
        "export": "model_export.signature.evaluate:export_main",
        "calibrate": "model_export.signature.evaluate:calibrate_main",
        "evaluate": "model_export.signature.evaluate:main",
        "ship": "model_export.common.shipping:main",
    },
    "reviews": {"export": "model_export.common.reviewed_cases:main"},
    # the decision as a whole: each check's LLR into its manifest (calibrate; --only signature after a new
    # signature model), then the fused thresholds (models/decision/policy.json) and the report (evaluate)
    "system": {"calibrate": "model_export.system.evaluate:calibrate_main", "evaluate": "model_export.system.evaluate:evaluate_main"},
}
# What `ship` copies from a run beside the manifest and the report.
SHIPPED_FILES = {
    "face": ("model.onnx",),
    "antispoof": ("model.onnx", "LICENSE-minifasnet"),
    "signature": ("model.onnx", "background.npz"),
}


def usage() -> str:
    lines = ["usage: python -m model_export <model> <step> [options]", "", "steps, in pipeline order:"]
    lines += [f"  {model:<10} {' | '.join(steps)}" for model, steps in PIPELINES.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] not in PIPELINES or argv[1] not in PIPELINES[argv[0]]:
        print(usage())
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    model, step = argv[0], argv[1]
    module_name, func_name = PIPELINES[model][step].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    if step == "ship":
        func = functools.partial(func, model=model, files=SHIPPED_FILES[model])
    return int(func(argv[2:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
