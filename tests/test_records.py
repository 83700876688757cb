"""The typed verification record: a stored document read and written back is the same JSON, byte for byte."""

import json

from functions.records import DecisionRecord, FailureRecord, StepRecord, VerificationRecord


def stored_document() -> dict:
    """A record as the service writes it over a request's life: created, steps, decided, reviewed, a late failure."""
    return {
        "id": "v1", "subject_id": "alice", "device_id": "kiosk-1", "callback_url": "https://device.example/cb",
        "mode": "async", "status": "accepted",
        "images": {"face": "images/verifications/v1/face.jpg", "signature": "images/verifications/v1/signature.png"},
        "steps": {
            "face-crop": {"result": {"reason": None, "crops": {"chip": "crops/v1/chip.png", "context": "crops/v1/context.jpg"}},
                          "next": "antispoof", "started_at": "t0", "finished_at": "t1", "duration_ms": 12.5, "attempt": 1},
            "decide": {"result": {"outcome": "review", "reasons": ["face_uncertain"]}, "next": "review",
                       "started_at": "t2", "finished_at": "t3", "duration_ms": 0.4, "attempt": 2},
        },
        "decision": {"outcome": "accepted", "reasons": ["face_uncertain", "reviewer_accept"], "by": "reviewer",
                     "decided_at": "t4", "service_outcome": "review"},
        "failure": None, "created_at": "t0", "updated_at": "t5", "request_fingerprint": "f" * 64,
        "review": {"verdict": "accept", "reviewer": "rita"},
        "step_failures": [{"step": "notify", "code": "step_error", "message": "gone", "at": "t5"}],
        "_etag": "e1",
    }


def test_a_stored_record_round_trips_to_the_same_json():
    doc = stored_document()
    assert json.dumps(VerificationRecord.from_dict(doc).to_dict()) == json.dumps(doc)


def test_typed_reads_replace_the_nested_lookups():
    record = VerificationRecord.from_dict(stored_document())
    assert record.face_crops() == {"chip": "crops/v1/chip.png", "context": "crops/v1/context.jpg"}
    assert record.result_of("decide") == {"outcome": "review", "reasons": ["face_uncertain"]}
    assert record.result_of("signature") is None
    assert record.decision.extra == {"service_outcome": "review"} and record.is_terminal
    assert record.step_failures == [FailureRecord("notify", "step_error", "gone", "t5")]
    assert record.extra == {"review": {"verdict": "accept", "reviewer": "rita"}, "_etag": "e1"}


def test_a_new_record_has_the_shape_intake_always_wrote():
    record = VerificationRecord(id="v2", subject_id="bob", device_id="d", callback_url=None, mode="sync",
                                images={"face": "f", "signature": "s"}, created_at="t0", updated_at="t0")
    assert list(record.to_dict()) == ["id", "subject_id", "device_id", "callback_url", "mode", "status", "images", "steps",
                                      "decision", "failure", "created_at", "updated_at"]
    record.steps["face-crop"] = StepRecord({"crops": {}}, "antispoof", "t1", "t2", 1.0, 1)
    record.decision = DecisionRecord("rejected", ["no_face"], "service", "t3")
    again = VerificationRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record
    assert list(again.to_dict()["steps"]["face-crop"]) == ["result", "next", "started_at", "finished_at", "duration_ms", "attempt"]
    assert again.face_crops() == {}
