"""What a shipped manifest records so a model can be traced and rebuilt: data content hash, seeds, code commit.

`ship` writes a `build` block into every manifest:

    "build": {"code_commit": "<git HEAD>[-dirty]",
              "seeds": {"<what the seed draws>": <int>, ...},
              "data": {"<role>": {"what": "...", "files": N, "sha256": "..."}}}

The data hash is over the sorted relative paths and the bytes of the files a
stage read, so the same hash means the same data, wherever it is mounted.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Iterable

from functions.settings import REPO_ROOT

from .paths import MODELS_DIR


def content_sha256(root: Path, files: Iterable[Path]) -> dict:
    """{"files": n, "sha256": hex} over each file's path relative to `root` and its bytes, in sorted path order."""
    root = Path(root)
    relative = sorted(Path(f).resolve().relative_to(root.resolve()).as_posix() for f in files)
    h = hashlib.sha256()
    for rel in relative:
        data = (root / rel).read_bytes()
        h.update(rel.encode("utf-8") + b"\0" + len(data).to_bytes(8, "big"))
        h.update(data)
    return {"files": len(relative), "sha256": h.hexdigest()}


def data_record(what: str, root: Path, files: Iterable[Path]) -> dict:
    return {"what": what, **content_sha256(root, files)}


def code_commit(repo: Path = REPO_ROOT) -> str:
    """`git rev-parse HEAD`, with "-dirty" when tracked files differ from it (the model then came from uncommitted code)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True, check=True).stdout
    return head + ("-dirty" if status.strip() else "")


def build_record(data: dict[str, dict], seeds: dict[str, int], commit: str | None = None, randomness: str | None = None) -> dict:
    """The manifest's `build` block; `commit` defaults to the checkout's current one."""
    record = {"code_commit": commit or code_commit(), "seeds": dict(seeds), "data": dict(data)}
    if randomness:
        record["randomness"] = randomness
    return record


def not_shipped(folder: Path) -> Path:
    """`folder`, or SystemExit when it is inside models/: only `ship` writes there."""
    folder = Path(folder)
    if folder.resolve().is_relative_to(MODELS_DIR.resolve()):
        raise SystemExit(f"{folder} is inside {MODELS_DIR}: only `ship` writes there; give a run folder")
    return folder
