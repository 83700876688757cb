"""Erasure erases: after DELETE /subjects/{id}, nothing in the data folder names the subject or holds its images.

The attack from the security review: erase a subject, then read the data
folder's files (blobs, SQLite databases and their logs) for the subject's
name, its verifications' ids and the bytes of its photos and signatures.
Also: images are ciphertext at rest in both homes, files are 0600 and
folders 0700, and re-enrolment leaves no earlier enrolment image behind.
"""

from __future__ import annotations

import base64
import io
import os
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import jpeg_b64, png_b64

SUBJECT = "zq-erase-7k"  # a name that occurs nowhere else


@pytest.fixture
def accept_path_models(settings_env, tmp_path):
    from tests.fixtures.models import models_for_the_accept_path

    settings_env.setenv("BIOAUTH_MODELS_DIR", str(models_for_the_accept_path(tmp_path / "models")))


def _png_bytes(image: np.ndarray) -> bytes:
    return base64.b64decode(png_b64(image))


def _samples(data: bytes) -> list[bytes]:
    """Stretches of an image's bytes that would show it is stored in the clear."""
    return [data[i:i + 48] for i in (len(data) // 4, len(data) // 2, 3 * len(data) // 4)]


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _enrol(client, astronaut, faces: int):
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature

    face_b64 = [jpeg_b64(capture(astronaut, s)) for s in range(1, faces + 1)]
    signature_b64 = [png_b64(make_signature(7, s)) for s in range(3)]
    r = client.post(f"/api/v1/subjects/{SUBJECT}/enrolment", json={"face_images": face_b64, "signature_images": signature_b64})
    assert r.status_code == 201, r.text
    return [base64.b64decode(b) for b in face_b64 + signature_b64]


def _enrolment_files(data: Path) -> list[Path]:
    return _files(data / "blobs" / "images" / "subjects" / SUBJECT)


def test_erasure_leaves_nothing_that_names_the_subject_or_holds_its_images(accept_path_models, embedded_services, client, astronaut):
    from tests.fixtures.photos import capture
    from tests.fixtures.signatures import make_signature

    services = embedded_services
    data = services.settings.data_dir
    plaintexts = _enrol(client, astronaut, faces=3)
    assert len([p for p in _enrolment_files(data) if "face-" in p.name]) == 3
    plaintexts += _enrol(client, astronaut, faces=1)  # re-enrolment with fewer photos
    faces_left = [p for p in _enrolment_files(data) if "face-" in p.name]
    assert len(faces_left) == 1, faces_left  # the old ones are gone: the cancelled template cannot be rebuilt

    ids = []
    for seed in (31, 32):
        face, signature = jpeg_b64(capture(astronaut, seed)), png_b64(make_signature(7, seed))
        plaintexts += [base64.b64decode(face), base64.b64decode(signature)]
        body = {"subject_id": SUBJECT, "device_id": "kiosk", "face_image": face, "signature_image": signature}
        r = client.post("/api/v1/verifications", json=body)
        ids.append(client.wait_terminal(r.headers["Location"])["id"])
    # One of them goes to a reviewer, whose verdict keeps a copy of every image as a labelled pair.
    record = services.records.get("verifications", ids[0])
    record.pop("_etag")
    services.records.upsert("verifications", {**record, "status": "review"})
    assert client.post(f"/api/v1/reviews/{ids[0]}", json={"verdict": "reject"}).status_code == 200
    review = services.records.get("reviews", ids[0])
    assert len(review["images"]) >= 3
    crops = [services.blobs.get(ref) for ref in review["images"].values()]
    plaintexts += crops
    # A message of this subject stuck in a poison queue.
    services.queues.send("decide-poison", f'{{"verification_id":"{ids[1]}","subject_id":"{SUBJECT}","images":{{}}}}')

    # At rest, before any erasure: no image in the clear, files 0600, folders 0700.
    raw = b"".join(p.read_bytes() for p in _files(data))
    assert not any(s in raw for data_ in plaintexts for s in _samples(data_))
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path.relative_to(data), oct(mode))

    assert client.delete(f"/api/v1/subjects/{SUBJECT}").status_code == 204

    names = [SUBJECT, *ids]
    for path in data.rglob("*"):
        assert not any(n in str(path.relative_to(data)) for n in names), path
    for path in _files(data):
        content = path.read_bytes()
        assert SUBJECT.encode() not in content, path.relative_to(data)
        assert not any(s in content for data_ in plaintexts for s in _samples(data_)), path.relative_to(data)
        if path.name != "records.sqlite":
            assert not any(vid.encode() in content for vid in ids), path.relative_to(data)
    # The records file keeps the audit trail, whose events of these verifications now name a pseudonym only.
    with sqlite3.connect(f"file:{data / 'records.sqlite'}?mode=ro", uri=True) as db:
        for vid in ids:
            assert db.execute("SELECT COUNT(*) FROM documents WHERE instr(body, ?) > 0", (vid,)).fetchone()[0] == 0
            subjects = {row[0] for row in db.execute("SELECT subject_id FROM audit WHERE verification_id = ?", (vid,))}
            assert all(s is None or s.startswith("erased:") for s in subjects), subjects
    assert services.records.get("verifications", ids[1]) is None and services.records.get("reviews", ids[0]) is None
    assert client.get(f"/api/v1/verifications/{ids[1]}").status_code == 404


def test_images_are_ciphertext_in_blob_storage_too(azurite_services):
    """The Azure home (Azurite): what the Blob service holds is not the image, and reads give the image back."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(buf, format="PNG")
    image = buf.getvalue()
    blobs = azurite_services.blobs
    ref = blobs.put("images", f"verifications/{os.urandom(8).hex()}/face.png", image, "image/png")
    stored = blobs.inner.get(ref)
    assert image not in stored and all(s not in stored for s in _samples(image))
    assert blobs.get(ref) == image
    # Bound to its name: the same bytes under another name do not decrypt.
    other = blobs.inner.put("images", ref.partition("/")[2] + ".copy", stored, "image/png")
    with pytest.raises(Exception):
        blobs.get(other)
    model = blobs.put("models", "probe/manifest.json", b"{}", "application/json")
    assert blobs.inner.get(model) == b"{}"  # models stay as they are


@pytest.mark.azurite
def test_erasure_deletes_the_subjects_waiting_messages_from_storage_queues_and_keeps_the_others(azurite_services):
    queues = azurite_services.queues
    name = f"forget{os.urandom(4).hex()}"
    queues.ensure_queues([name])
    for vid in ("v-gone-1", "v-stays", "v-gone-2"):
        queues.send(name, f'{{"verification_id":"{vid}","subject_id":"s"}}')
    assert queues.forget([name], ["v-gone-1", "v-gone-2"]) == 2
    left = queues.receive(name, 32, lease_seconds=30)  # the others are visible again at once
    assert [m.text for m in left] == ['{"verification_id":"v-stays","subject_id":"s"}']


def test_an_existing_data_folder_is_made_private(settings_env, tmp_path):
    from functions.runtime.services import get_services

    data = tmp_path / "data"
    (data / "blobs" / "images").mkdir(parents=True, mode=0o755)
    os.chmod(data, 0o755)
    (data / "records.sqlite").touch(mode=0o644)
    services = get_services()
    services.records.upsert("subjects", {"id": "x"})
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "blobs" / "images").stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "records.sqlite").stat().st_mode) == 0o600


def test_a_step_running_while_its_subject_is_erased_leaves_no_crop_behind(embedded_services):
    """Erasure between a step's start and its record update: the crops the step wrote are removed with it."""
    from functions.messages import StepMessage
    from functions.runtime.step_runner import Step, StepOutcome, StepTable, run_step

    services = embedded_services
    services.records.create("verifications", {"id": "v9", "subject_id": SUBJECT, "status": "queued", "steps": {}, "images": {}})

    def crop_then_find_it_erased(ctx):
        services.blobs.put("crops", "v9/chip.png", b"\x89PNG the subject's face", "image/png")
        services.records.delete("verifications", "v9")  # DELETE /subjects/{id} lands now
        return StepOutcome(result={"crops": {"chip": "crops/v9/chip.png"}}, branch="done")

    table = StepTable((Step("face-crop", "face-crop", {"done": None}, crop_then_find_it_erased),))
    assert run_step(table, "face-crop", StepMessage("v9", SUBJECT, {}).to_json(), 1, services) is None
    with pytest.raises(KeyError):
        services.blobs.get("crops/v9/chip.png")
    assert not (services.settings.data_dir / "blobs" / "crops" / "v9").exists()
