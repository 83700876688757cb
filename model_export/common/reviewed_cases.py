"""`python -m model_export reviews export --out DIR`: the cases people reviewed, as a data set for retraining.

Every verdict a reviewer gives is stored with the case's images as a labelled
pair (`reviews` records, `reviews/` blobs). This job copies them out of
whichever storage the settings point at (the embedded default, or Azure) into
a folder the training jobs read:

    DIR/labels.csv                      one row per case: id, subject, label, verdict, reasons, model versions
    DIR/<label>/<case id>/face.jpg      the device's photo (and signature.png, face_chip.png, face_context.png)
    DIR/faces/<subject id>/<case id>.png   genuine cases' aligned chips, by identity (one folder per person, for identity-labelled training)
    DIR/antispoof/<live|spoof>/<subject id>/<case id>.<ext>
                                        the device's photo of cases whose reviewer judged the presentation
                                        (bona fide or attack), by person (antispoof calibrate --reviewed)

The export is incremental: cases already in DIR are left as they are. The
images are biometric data: keep DIR where the retention rules allow.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from functions.runtime.services import Services, open_services
from functions.settings import Settings

FIELDS = ("id", "subject_id", "label", "verdict", "reviewer", "reviewed_at", "service_reasons", "models", "images", "presentation")
PRESENTATION_FOLDERS = {"bona_fide": "live", "attack": "spoof"}
LABELS = ("genuine", "impostor")


def reviewed_cases(services: Services) -> list[dict]:
    cases = []
    for label in LABELS:
        cases += services.records.query("reviews", "label", label)
    return sorted(cases, key=lambda c: c.get("reviewed_at") or "")


def model_versions(case: dict) -> dict:
    versions = {}
    for step, result in (case.get("step_results") or {}).items():
        if isinstance(result, dict) and result.get("model_version"):
            versions[step] = result["model_version"]
    return versions


def export_reviews(services: Services, out: Path) -> tuple[int, int]:
    """Write new cases into `out`; returns (written, already there)."""
    out.mkdir(parents=True, exist_ok=True)
    index = out / "labels.csv"
    known = set()
    if index.exists():
        with open(index, newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
        known = {row["id"] for row in rows}
        if tuple(reader.fieldnames or ()) != FIELDS:  # written by an earlier version: same rows, today's columns
            with open(index, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=FIELDS)
                writer.writeheader()
                writer.writerows({k: row.get(k) or "" for k in FIELDS} for row in rows)
    written = 0
    with open(index, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if f.tell() == 0:  # a new file
            writer.writeheader()
        for case in reviewed_cases(services):
            if case["id"] in known:
                continue
            folder = out / case["label"] / case["id"]
            folder.mkdir(parents=True, exist_ok=True)
            files = {}
            for name, ref in case.get("images", {}).items():
                target = folder / f"{name}.{ref.rsplit('.', 1)[-1]}"
                target.write_bytes(services.blobs.get(ref))
                files[name] = target.relative_to(out).as_posix()
            presentation = case.get("presentation")
            if presentation in PRESENTATION_FOLDERS and "face" in files:
                person = out / "antispoof" / PRESENTATION_FOLDERS[presentation] / case["subject_id"]
                person.mkdir(parents=True, exist_ok=True)
                face = out / files["face"]
                (person / f"{case['id']}{face.suffix}").write_bytes(face.read_bytes())
            chip = folder / "face_chip.png"
            if case["label"] == "genuine" and chip.exists():
                identity = out / "faces" / case["subject_id"]
                identity.mkdir(parents=True, exist_ok=True)
                (identity / f"{case['id']}.png").write_bytes(chip.read_bytes())
            writer.writerow({
                "id": case["id"],
                "subject_id": case["subject_id"],
                "label": case["label"],
                "verdict": case.get("verdict"),
                "reviewer": case.get("reviewer"),
                "reviewed_at": case.get("reviewed_at"),
                "service_reasons": " ".join(case.get("service_reasons", [])),
                "models": json.dumps(model_versions(case), sort_keys=True),
                "images": json.dumps(files, sort_keys=True),
                "presentation": presentation or "",
            })
            written += 1
    return written, len(known)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_export reviews export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the data set into")
    args = parser.parse_args(argv)
    services = open_services(Settings.from_env())
    written, before = export_reviews(services, args.out)
    print(f"{written} new reviewed cases written to {args.out} ({before} were there already)")
    return 0
