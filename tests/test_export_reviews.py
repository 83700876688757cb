"""Reviewed cases leave storage as a labelled data set for retraining, incrementally."""

import csv
import json

from tests.test_review import _case_in_review


def test_a_reviewed_case_is_exported_once_with_its_images_and_labels(client, embedded_services, tmp_path):
    from model_export.common.reviewed_cases import export_reviews

    _case_in_review(embedded_services)
    assert client.post("/api/v1/reviews/v1", json={"verdict": "accept", "reviewer": "r1"}).status_code == 200

    out = tmp_path / "reviewed"
    assert export_reviews(embedded_services, out) == (1, 0)
    rows = list(csv.DictReader(open(out / "labels.csv")))
    assert [(r["id"], r["subject_id"], r["label"], r["verdict"]) for r in rows] == [("v1", "alice", "genuine", "accept")]
    assert rows[0]["service_reasons"] == "liveness_uncertain"
    images = json.loads(rows[0]["images"])
    assert (out / images["face"]).read_bytes() == b"\x89PNG face bytes"
    assert set(images) == {"face", "signature", "face_context"}

    assert export_reviews(embedded_services, out) == (0, 1)  # nothing new: nothing written twice
    assert len(list(csv.DictReader(open(out / "labels.csv")))) == 1


def test_judged_presentations_are_exported_by_person_for_anti_spoofing(client, embedded_services, tmp_path):
    from model_export.common.reviewed_cases import export_reviews

    _case_in_review(embedded_services)
    assert client.post("/api/v1/reviews/v1", json={"verdict": "reject", "presentation": "attack"}).status_code == 200
    out = tmp_path / "reviewed"
    assert export_reviews(embedded_services, out) == (1, 0)
    assert (out / "antispoof" / "spoof" / "alice" / "v1.png").read_bytes() == b"\x89PNG face bytes"
    assert not (out / "antispoof" / "live").exists()
    assert [r["presentation"] for r in csv.DictReader(open(out / "labels.csv"))] == ["attack"]


def test_an_index_written_before_the_presentation_column_is_upgraded_in_place(client, embedded_services, tmp_path):
    from model_export.common.reviewed_cases import FIELDS, export_reviews

    out = tmp_path / "reviewed"
    out.mkdir()
    old_fields = [f for f in FIELDS if f != "presentation"]
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=old_fields)
        writer.writeheader()
        writer.writerow({k: ("old" if k == "id" else "x") for k in old_fields})
    _case_in_review(embedded_services)
    assert client.post("/api/v1/reviews/v1", json={"verdict": "accept", "presentation": "bona_fide"}).status_code == 200
    assert export_reviews(embedded_services, out) == (1, 1)
    rows = list(csv.DictReader(open(out / "labels.csv")))
    assert [(r["id"], r["presentation"]) for r in rows] == [("old", ""), ("v1", "bona_fide")]
    assert (out / "antispoof" / "live" / "alice" / "v1.png").is_file()


def test_an_index_holding_only_its_header_gets_no_second_header(client, embedded_services, tmp_path):
    from model_export.common.reviewed_cases import FIELDS, export_reviews

    out = tmp_path / "reviewed"
    out.mkdir()
    with open(out / "labels.csv", "w", newline="") as f:
        csv.DictWriter(f, fieldnames=FIELDS).writeheader()
    _case_in_review(embedded_services)
    assert client.post("/api/v1/reviews/v1", json={"verdict": "accept"}).status_code == 200
    assert export_reviews(embedded_services, out) == (1, 0)
    assert [r["id"] for r in csv.DictReader(open(out / "labels.csv"))] == ["v1"]
