"""`python -m model_export <command> [options]`: one entry for every training, export and evaluation job."""

from __future__ import annotations

import importlib
import sys

# command -> "module:function"; each function takes argv (list[str]) and returns an exit code.
COMMANDS: dict[str, str] = {
    "export-face": "model_export.face.train:main",
    "evaluate-face": "model_export.face.evaluate:main",
    "train-face": "model_export.face.fine_tune:main",
    "cache-antispoof": "model_export.antispoof.data:main",
    "train-antispoof": "model_export.antispoof.train_cnn:main",
    "evaluate-antispoof": "model_export.antispoof.evaluate:main",
    "lbp-antispoof": "model_export.antispoof.train:main",
    "train-antispoof-lbp": "model_export.antispoof.train:train_main",
    "train-signature": "model_export.signature.train:main",
    "evaluate-signature": "model_export.signature.evaluate:main",
    "export-reviews": "model_export.common.reviewed_cases:main",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: python -m model_export <command> [options]\n\ncommands:")
        for name in sorted(COMMANDS):
            print(f"  {name}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module_name, func_name = COMMANDS[argv[0]].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
