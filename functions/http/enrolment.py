"""Enrolment and renewal: turn a subject's photos and signatures into the references the steps compare against.

Raw enrolment images are kept only where the retention setting allows,
encrypted, so templates can be renewed without asking the person again.
"""

from __future__ import annotations

import uuid

import numpy as np

from ..biometrics.face_alignment import ChipGeometry
from ..biometrics.face_detection import crop_face
from ..biometrics.face_matching import embed_members, face_models
from ..biometrics.signature_preparation import SignatureImageError
from ..biometrics.signature_verification import MODEL_NAME as SIGNATURE_MODEL, build_writer_model, prepare_reference
from ..errors import Conflict, InvalidImage, InvalidRequest, SubjectNotEnrolled
from ..images import DecodedImage, check_image, load_rgb
from ..crypto.template_protection import decrypt, encrypt
from ..onnx_models import load_model
from ..runtime.services import Services
from ..runtime.step_runner import now_iso
from ..runtime.subjects import (
    SUBJECTS,
    associated_data,
    load_signature_references,
    protected_face,
    store_signature_references,
    store_signature_writer_model,
)

MIN_FACES, MAX_FACES = 1, 10
MIN_SIGNATURES, MAX_SIGNATURES = 3, 10


RETAINED_IMAGE_MAX_PIXELS = 100_000_000  # a bomb guard only: these bytes were checked at enrolment

def check_counts(faces: list, signatures: list) -> None:
    if not (MIN_FACES <= len(faces) <= MAX_FACES):
        raise InvalidRequest(f"enrolment needs {MIN_FACES} to {MAX_FACES} face images, got {len(faces)}",
                             code="invalid_field", details={"field": "face_images"})
    if not (MIN_SIGNATURES <= len(signatures) <= MAX_SIGNATURES):
        raise InvalidRequest(f"enrolment needs {MIN_SIGNATURES} to {MAX_SIGNATURES} signature images, got {len(signatures)}",
                             code="invalid_field", details={"field": "signature_images"})


def face_embeddings(images: list[DecodedImage], services: Services) -> tuple[dict[str, list[np.ndarray]], str]:
    """Unit-length embeddings of the enrolment photos by each fused network (network name -> one per photo), and what
    the template records of the networks ("<name>/<version>", "+"-joined)."""
    s = services.settings
    models = face_models(s.models_dir)
    geometry = ChipGeometry.from_manifest(models.primary.manifest)
    embeddings: dict[str, list[np.ndarray]] = {m.manifest.name: [] for m in models.members}
    for i, image in enumerate(images):
        found = crop_face(
            load_rgb(image.data),
            min_score=s.min_face_score,
            min_eye_distance_px=s.min_eye_distance_px,
            multiple_faces=s.multiple_faces,
            context_scale=s.context_scale,
            chip_spec=geometry,
        )
        if found.reason:
            raise InvalidImage(f"face_images[{i}]: {found.reason.replace('_', ' ')}", code=found.reason,
                               details={"field": f"face_images[{i}]"})
        for name, embedding in embed_members(found.chip, models).items():
            embeddings[name].append(embedding)
    return embeddings, models.template_model


def signature_references(images: list[DecodedImage]) -> list[np.ndarray]:
    references = []
    for i, image in enumerate(images):
        try:
            references.append(prepare_reference(load_rgb(image.data)))
        except SignatureImageError as exc:
            raise InvalidImage(f"signature_images[{i}]: {exc.message}", code=exc.code,
                               details={"field": f"signature_images[{i}]"}) from None
    return references


def enrol_subject(subject_id: str, faces: list[DecodedImage], signatures: list[DecodedImage], services: Services) -> dict:
    """Create or replace a subject's enrolment. Re-enrolment issues a new token: the old template is cancelled."""
    check_counts(faces, signatures)
    embeddings, face_model = face_embeddings(faces, services)
    references = signature_references(signatures)

    key = services.secrets.template_key
    face = protected_face(subject_id, embeddings, face_model, services)
    refs_blob = store_signature_references(subject_id, references, services)
    writer = build_writer_model(load_model(SIGNATURE_MODEL, services.settings.models_dir), references)
    writer_blob = store_signature_writer_model(subject_id, writer.encode(), services)
    # A new folder per enrolment: the old images are removed once the new record stands,
    # so a cancelled template cannot be rebuilt from them.
    generation = uuid.uuid4().hex[:12]
    retained = []
    if services.settings.retain_enrolment_images:
        for kind, items in (("face", faces), ("signature", signatures)):
            for i, image in enumerate(items):
                retained.append(
                    services.blobs.put(
                        "images",
                        f"subjects/{subject_id}/enrolment/{generation}/{kind}-{i}.{image.extension}.enc",
                        encrypt(image.data, key, associated_data(f"{kind}-image", subject_id)),
                    )
                )
    doc = {
        "id": subject_id,
        **face,
        "signature": {"count": len(references), "references": refs_blob, "writer_model": writer_blob,
                      "model_sha256": writer.model_sha256},
        "retained_images": retained,
        "enrolled_at": now_iso(),
    }
    previous = services.records.get(SUBJECTS, subject_id)
    services.records.upsert(SUBJECTS, doc)
    _remove_old_enrolment_images(subject_id, previous, retained, services)
    return {
        "subject_id": subject_id,
        "faces": len(faces),
        "signatures": len(references),
        "face_model": face_model,
        "face_model_version": face["face"]["model_version"],
        "images_retained": bool(retained),
        "enrolled_at": doc["enrolled_at"],
    }


def _remove_old_enrolment_images(subject_id: str, previous: dict | None, kept: list[str], services: Services) -> None:
    """The images of earlier enrolments: those the previous record named, and any left in the older flat layout."""
    for ref in (previous or {}).get("retained_images", []):
        if ref not in kept:
            container, _, name = ref.partition("/")
            services.blobs.delete_prefix(container, name)
    folder = f"subjects/{subject_id}/enrolment/"
    for prefix in (f"{folder}face-", f"{folder}signature-"):
        services.blobs.delete_prefix("images", prefix)


def renewed_signature(subject_id: str, subject: dict, services: Services) -> dict:
    """The subject's signature entry with a writer model rebuilt by the current signature model from the stored canvases."""
    writer = build_writer_model(load_model(SIGNATURE_MODEL, services.settings.models_dir), load_signature_references(subject, services))
    blob = store_signature_writer_model(subject_id, writer.encode(), services)
    return {**subject["signature"], "writer_model": blob, "model_sha256": writer.model_sha256}


def renew_subject(subject_id: str, services: Services) -> dict:
    """A new token and new face templates from the retained enrolment images, with the current face model,
    and the signature writer model rebuilt from the stored reference canvases with the current signature model.

    Cancels the old template (the new one is unlinkable to it) and moves the
    subject to a new model version without asking the person to come back.
    """
    subject = services.records.get(SUBJECTS, subject_id)
    if subject is None:
        raise SubjectNotEnrolled(f"subject {subject_id!r} is not enrolled")
    key = services.secrets.template_key
    # Retained images passed the intake limits when they were enrolled; a limit lowered since must not make
    # them unrenewable (decoding is reduced to a bounded size either way).
    faces = [
        check_image(decrypt(services.blobs.get(ref), key, associated_data("face-image", subject_id)), field="retained face",
                    max_pixels=RETAINED_IMAGE_MAX_PIXELS)
        for ref in subject.get("retained_images", []) if ref.rsplit("/", 1)[-1].startswith("face-")
    ]
    if not faces:
        raise Conflict("no enrolment images were retained for this subject: enrol again", code="no_retained_images")
    embeddings, face_model = face_embeddings(faces, services)
    subject.pop("_etag", None)
    subject.update(protected_face(subject_id, embeddings, face_model, services))
    subject["signature"] = renewed_signature(subject_id, subject, services)
    subject["renewed_at"] = now_iso()
    services.records.upsert(SUBJECTS, subject)
    return {
        "subject_id": subject_id,
        "faces": len(faces),
        "face_model": face_model,
        "face_model_version": subject["face"]["model_version"],
        "renewed_at": subject["renewed_at"],
    }
