"""Enrolment: what each step needs as reference for a subject, protected at rest.

Face: one embedding per enrolment photo, made cancelable with a fresh
per-subject token and encrypted. Signature: the references in processed form
(model-independent, so they survive a model upgrade), encrypted. Raw
enrolment images are kept only where the retention setting allows, encrypted,
so templates can be renewed without asking the person again.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from .errors import InvalidImage, InvalidRequest
from .images import DecodedImage, load_rgb
from .model_runtime import load_model
from .pipeline import now_iso
from .services import Services
from .templates import decrypt, encrypt, new_subject_token, pack_arrays, protect_embedding, protected_to_vector, unpack_arrays

SUBJECTS = "subjects"
MIN_FACES, MAX_FACES = 1, 10
MIN_SIGNATURES, MAX_SIGNATURES = 3, 10


@dataclass(frozen=True)
class FaceTemplate:
    token: bytes
    references: list[np.ndarray]  # protected vectors, compared in the protected space
    model_version: str


def _aad(kind: str, subject_id: str) -> str:
    return f"bioauth:{kind}:{subject_id}"


def check_counts(faces: list, signatures: list) -> None:
    if not (MIN_FACES <= len(faces) <= MAX_FACES):
        raise InvalidRequest(f"enrolment needs {MIN_FACES} to {MAX_FACES} face images, got {len(faces)}",
                             code="invalid_field", details={"field": "face_images"})
    if not (MIN_SIGNATURES <= len(signatures) <= MAX_SIGNATURES):
        raise InvalidRequest(f"enrolment needs {MIN_SIGNATURES} to {MAX_SIGNATURES} signature images, got {len(signatures)}",
                             code="invalid_field", details={"field": "signature_images"})


def face_embeddings(images: list[DecodedImage], services: Services) -> tuple[list[np.ndarray], str]:
    from .face_crop import crop_face
    from .face_match import MODEL_NAME, embed_face
    from .face_preprocessing import ChipGeometry

    s = services.settings
    model = load_model(MODEL_NAME, s.models_dir)
    geometry = ChipGeometry.from_manifest(model.manifest)
    embeddings = []
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
        embeddings.append(embed_face(found.chip, model))
    return embeddings, model.version


def signature_references(images: list[DecodedImage]) -> list[np.ndarray]:
    from .signature import prepare_reference
    from .signature_preprocessing import SignatureImageError

    references = []
    for i, image in enumerate(images):
        try:
            references.append(prepare_reference(load_rgb(image.data)))
        except SignatureImageError as exc:
            raise InvalidImage(f"signature_images[{i}]: {exc.message}", code=exc.code,
                               details={"field": f"signature_images[{i}]"}) from None
    return references


def protected_face(subject_id: str, embeddings: list[np.ndarray], model_version: str, services: Services) -> dict:
    """The subject document's `token` and `face` fields: a fresh token, the embeddings protected with it, encrypted."""
    key = services.secrets.template_key
    token = new_subject_token()
    protected = [protect_embedding(e, token, services.secrets.template_secret) for e in embeddings]
    return {
        "token": base64.b64encode(encrypt(token, key, _aad("token", subject_id))).decode(),
        "face": {
            "model_version": model_version,
            "count": len(protected),
            "templates": base64.b64encode(encrypt(pack_arrays(protected), key, _aad("face", subject_id))).decode(),
        },
    }


def enrol_subject(subject_id: str, faces: list[DecodedImage], signatures: list[DecodedImage], services: Services) -> dict:
    """Create or replace a subject's enrolment. Re-enrolment issues a new token: the old template is cancelled."""
    check_counts(faces, signatures)
    embeddings, model_version = face_embeddings(faces, services)
    references = signature_references(signatures)

    key = services.secrets.template_key
    face = protected_face(subject_id, embeddings, model_version, services)
    refs_blob = services.blobs.put(
        "images", f"subjects/{subject_id}/signature-references.bin", encrypt(pack_arrays(references), key, _aad("signatures", subject_id))
    )
    retained = []
    if services.settings.retain_enrolment_images:
        for kind, items in (("face", faces), ("signature", signatures)):
            for i, image in enumerate(items):
                retained.append(
                    services.blobs.put(
                        "images",
                        f"subjects/{subject_id}/enrolment/{kind}-{i}.{image.extension}.enc",
                        encrypt(image.data, key, _aad(f"{kind}-image", subject_id)),
                    )
                )
    doc = {
        "id": subject_id,
        **face,
        "signature": {"count": len(references), "references": refs_blob},
        "retained_images": retained,
        "enrolled_at": now_iso(),
    }
    services.records.upsert(SUBJECTS, doc)
    return {
        "subject_id": subject_id,
        "faces": len(embeddings),
        "signatures": len(references),
        "face_model_version": model_version,
        "images_retained": bool(retained),
        "enrolled_at": doc["enrolled_at"],
    }


def renew_subject(subject_id: str, services: Services) -> dict:
    """A new token and new face templates from the retained enrolment images, with the current face model.

    Cancels the old template (the new one is unlinkable to it) and moves the
    subject to a new model version without asking the person to come back.
    """
    from .errors import Conflict, SubjectNotEnrolled
    from .images import check_image

    subject = services.records.get(SUBJECTS, subject_id)
    if subject is None:
        raise SubjectNotEnrolled(f"subject {subject_id!r} is not enrolled")
    key = services.secrets.template_key
    faces = [
        check_image(decrypt(services.blobs.get(ref), key, _aad("face-image", subject_id)), field="retained face",
                    max_pixels=services.settings.max_image_pixels)
        for ref in subject.get("retained_images", []) if "/enrolment/face-" in ref
    ]
    if not faces:
        raise Conflict("no enrolment images were retained for this subject: enrol again", code="no_retained_images")
    embeddings, model_version = face_embeddings(faces, services)
    subject.pop("_etag", None)
    subject.update(protected_face(subject_id, embeddings, model_version, services))
    subject["renewed_at"] = now_iso()
    services.records.upsert(SUBJECTS, subject)
    return {"subject_id": subject_id, "faces": len(embeddings), "face_model_version": model_version, "renewed_at": subject["renewed_at"]}


def enrolled_subject(services: Services, subject_id: str) -> dict:
    """The subject's enrolment, for a step; erased while its request was in flight is a permanent failure."""
    from .errors import SubjectNotEnrolled

    subject = services.records.get(SUBJECTS, subject_id)
    if subject is None:
        raise SubjectNotEnrolled("the subject was erased while the request was in flight")
    return subject


def load_face_template(subject: dict, services: Services) -> FaceTemplate:
    key, sid = services.secrets.template_key, subject["id"]
    token = decrypt(base64.b64decode(subject["token"]), key, _aad("token", sid))
    packed = decrypt(base64.b64decode(subject["face"]["templates"]), key, _aad("face", sid))
    return FaceTemplate(token, [protected_to_vector(p) for p in unpack_arrays(packed)], subject["face"]["model_version"])


def protect_probe(embedding: np.ndarray, template: FaceTemplate, services: Services) -> np.ndarray:
    return protected_to_vector(protect_embedding(embedding, template.token, services.secrets.template_secret))


def load_signature_references(subject: dict, services: Services) -> list[np.ndarray]:
    blob = services.blobs.get(subject["signature"]["references"])
    return unpack_arrays(decrypt(blob, services.secrets.template_key, _aad("signatures", subject["id"])))


def erase_subject(subject_id: str, services: Services) -> bool:
    """Erase templates, references and enrolment images. Verifications keep their own images until retention ends."""
    existed = services.records.delete(SUBJECTS, subject_id)
    deleted = services.blobs.delete_prefix("images", f"subjects/{subject_id}/")
    return existed or deleted > 0
