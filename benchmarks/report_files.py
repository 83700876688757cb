"""How a benchmark writes its report: `<stem>.json` (the figures) and `<stem>.md` (for people) in one folder."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(out: Path, stem: str, report: dict, markdown: str) -> None:
    """Write the report's JSON and its Markdown under `out` (made if missing), and print the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / f"{stem}.md").write_text(markdown + "\n")
    print(markdown)
