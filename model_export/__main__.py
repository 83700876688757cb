"""`python -m model_export <model> <step> [options]`: one pipeline per model, one verb per step.

Every pipeline works in a run folder (model_export/runs/<model>/ by default):

    face       fetch -> calibrate -> evaluate -> ship
    antispoof  convert -> calibrate -> evaluate -> ship
    signature  train -> [ensemble] -> export -> calibrate -> evaluate -> ship   (ensemble: two trained runs as one graph)
    quality    sweep -> bystanders -> choose -> evaluate -> ship   (capture-quality limits, several-faces rule)
    system     calibrate -> evaluate -> ship   (each check's LLR and the fused decision policy)
    reviews    export                  (reviewed cases as a data set for retraining)

fetch/convert/train/export/sweep make the network or the measurements,
calibrate/choose write the run's thresholds or limits, evaluate writes a report
into the run (never a manifest), and ship is the only step that writes into
models/: a model's folder, models/quality/, models/decision/ and each shipped
manifest's `calibration.llr`, with the build record (seeds, data hash, commit).
After a model ships, `system calibrate --only <check>`, `evaluate` and `ship`
fit its LLR again.
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
        "ensemble": "model_export.signature.ensemble:main",
        "export": "model_export.signature.evaluate:export_main",
        "calibrate": "model_export.signature.evaluate:calibrate_main",
        "evaluate": "model_export.signature.evaluate:main",
        "ship": "model_export.common.shipping:main",
    },
    "quality": {
        "sweep": "model_export.quality.sweep:main",
        "remeasure": "model_export.quality.remeasure:main",
        "bystanders": "model_export.quality.bystanders:main",
        "choose": "model_export.quality.choose:choose_main",
        "evaluate": "model_export.quality.choose:evaluate_main",
        "ship": "model_export.quality.choose:ship_main",
    },
    # the decision as a whole: each check's LLR and the fused thresholds (calibrate; --only signature after a
    # new signature model), the report (evaluate), the LLRs and models/decision/ (ship)
    "system": {
        "calibrate": "model_export.system.evaluate:calibrate_main",
        "evaluate": "model_export.system.evaluate:evaluate_main",
        "ship": "model_export.system.evaluate:ship_main",
    },
    "reviews": {"export": "model_export.common.reviewed_cases:main"},
}
# What `ship` copies from a run beside the manifest and the report.
SHIPPED_FILES = {
    "face": ("model.onnx",),
    "antispoof": ("model.onnx", "LICENSE-minifasnet"),
    "signature": ("model.onnx", "background.npz", "cohort.npz"),
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
    if step == "ship" and model in SHIPPED_FILES:
        func = functools.partial(func, model=model, files=SHIPPED_FILES[model])
    return int(func(argv[2:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
