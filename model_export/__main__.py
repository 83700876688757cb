"""`python -m model_export <command> [options]`: one `train` and one `evaluate` entry per model, and the reviewed-cases export."""

from __future__ import annotations

import importlib
import sys

# command -> "module:function"; each function takes argv (list[str]) and returns an exit code.
COMMANDS: dict[str, str] = {
    "train-face": "model_export.face.sface:main",
    "evaluate-face": "model_export.face.compare:main",
    "train-face-dlib": "model_export.face.train:main",
    "evaluate-face-dlib": "model_export.face.evaluate:main",
    "train-antispoof": "model_export.antispoof.convert:main",
    "evaluate-antispoof": "model_export.antispoof.evaluate:main",
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
