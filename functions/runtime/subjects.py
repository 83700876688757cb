"""A subject's enrolled references, protected at rest: what the face-match and signature steps compare against.

Face: one embedding per enrolment photo and per network the face score fuses
(template version 2: SFace and EdgeFace-XS), each made cancelable with a
per-subject token and encrypted. Signature: the references in processed form
(model-independent, so they survive a model upgrade) and the writer model made
from them with the current signature model, both encrypted. Enrolment
(http/enrolment.py) writes them, the steps read them, erasure removes them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import Conflict, ModelNotInstalled, SubjectNotEnrolled
from ..crypto.template_protection import (
    decrypt,
    encrypt,
    new_subject_token,
    pack_arrays,
    protect_embedding,
    protected_to_vector,
    unpack_arrays,
)
from ..biometrics.face_matching import member_names
from ..manifests import FACE_MODEL, read_manifest
from ..storage import delete_verification_blobs
from .services import Services
from .step_runner import VERIFICATIONS

SUBJECTS = "subjects"
REVIEWS = "reviews"  # closed cases kept as labelled pairs (records and the copies of their images)
# Templates enrolled before they recorded their model's name were made by the first face model, no longer
# shipped (its name, as templates and template_outdated errors give it): they are refused until renewed.
LEGACY_FACE_MODEL = "face_embedding"
# 1: one network's embeddings (the `face.model` a single "<name>/<version>"); 2: one embedding per enrolment photo for
# each network the face score fuses, stored member after member (`face.members`).
FACE_TEMPLATE_VERSION = 2


@dataclass(frozen=True)
class FaceTemplate:
    token: bytes
    references: dict[str, list[np.ndarray]]  # network name -> protected vectors, compared in the protected space
    model_version: str
    model: str  # "<name>/<version>" of each network, "+"-joined: embeddings of other networks are not comparable


def face_template_model(subject: dict) -> str:
    """The face model ("<name>/<version>") a subject's template was made with."""
    face = subject.get("face") or {}
    return face.get("model") or f"{LEGACY_FACE_MODEL}/{face.get('model_version', '')}"


def installed_face_model(models_dir: Path) -> str | None:
    """What a template made now would record ("<name>/<version>" of each fused network, "+"-joined), from the
    manifests in models_dir; None when one is absent."""
    try:
        manifest = read_manifest(Path(models_dir) / FACE_MODEL)
        members = [read_manifest(Path(models_dir) / name) for name in member_names(manifest)[1:]]
    except ModelNotInstalled:
        return None
    return "+".join(f"{m.name}/{m.version}" for m in (manifest, *members))


def check_face_template_current(subject: dict, services: Services) -> None:
    """Refuse a verification against a template made by another face model (`template_outdated`, 409).

    Embeddings of two models live in different spaces: such a comparison means
    nothing. Renewal re-enrols the subject from the retained images.
    """
    if not subject.get("face"):
        return  # nothing enrolled to compare with: the face-match step reports it
    current = installed_face_model(services.settings.models_dir)
    if current is None:
        return  # the face-match step reports the missing model
    made_with = face_template_model(subject)
    if made_with != current:
        raise Conflict(
            f"the subject's face template was made with {made_with}, the service runs {current}: "
            "renew it (POST /api/v1/subjects/{subject_id}/renewal) or enrol again",
            code="template_outdated",
            details={"subject_id": subject["id"], "template_model": made_with, "service_model": current},
        )


def associated_data(kind: str, subject_id: str) -> str:
    """What each encrypted item is bound to: its kind and its subject."""
    return f"bioauth:{kind}:{subject_id}"


def protected_face(subject_id: str, embeddings: dict[str, list[np.ndarray]], model: str, services: Services) -> dict:
    """The subject document's `token` and `face` fields: a fresh token, the embeddings protected with it, encrypted.

    `embeddings` holds one list per network (the face model first), one embedding per enrolment photo in each;
    `model` is what the networks' template records ("<name>/<version>", "+"-joined).
    """
    key = services.secrets.template_key
    token = new_subject_token()
    members = list(embeddings)
    count = len(embeddings[members[0]])
    protected = [protect_embedding(e, token, services.secrets.template_secret) for name in members for e in embeddings[name]]
    return {
        "token": base64.b64encode(encrypt(token, key, associated_data("token", subject_id))).decode(),
        "face": {
            "model": model,
            "model_version": model.split("+")[0].rsplit("/", 1)[-1],
            "template_version": FACE_TEMPLATE_VERSION,
            "members": members,
            "count": count,
            "templates": base64.b64encode(encrypt(pack_arrays(protected), key, associated_data("face", subject_id))).decode(),
        },
    }


def store_signature_references(subject_id: str, references: list[np.ndarray], services: Services) -> str:
    """The encrypted reference canvases as one blob; returns its reference."""
    data = encrypt(pack_arrays(references), services.secrets.template_key, associated_data("signatures", subject_id))
    return services.blobs.put("images", f"subjects/{subject_id}/signature-references.bin", data)


def store_signature_writer_model(subject_id: str, data: bytes, services: Services) -> str:
    """The encrypted writer model (reference features and the writer's classifier) as one blob; returns its reference."""
    encrypted = encrypt(data, services.secrets.template_key, associated_data("signature-writer-model", subject_id))
    return services.blobs.put("images", f"subjects/{subject_id}/signature-writer-model.bin", encrypted)


def enrolled_subject(services: Services, subject_id: str) -> dict:
    """The subject's enrolment, for a step; erased while its request was in flight is a permanent failure."""
    subject = services.records.get(SUBJECTS, subject_id)
    if subject is None:
        raise SubjectNotEnrolled("the subject was erased while the request was in flight")
    return subject


def load_face_template(subject: dict, services: Services) -> FaceTemplate:
    key, sid = services.secrets.template_key, subject["id"]
    token = decrypt(base64.b64decode(subject["token"]), key, associated_data("token", sid))
    packed = decrypt(base64.b64decode(subject["face"]["templates"]), key, associated_data("face", sid))
    vectors = [protected_to_vector(p) for p in unpack_arrays(packed)]
    made_with = face_template_model(subject)
    # Version 1 templates (no `members`) hold one network's embeddings, named by their model.
    members = subject["face"].get("members") or [made_with.split("/")[0]]
    count = subject["face"].get("count") or len(vectors)
    references = {name: vectors[i * count:(i + 1) * count] for i, name in enumerate(members)}
    return FaceTemplate(token, references, subject["face"].get("model_version", ""), made_with)


def protect_probe(embeddings: dict[str, np.ndarray], template: FaceTemplate, services: Services) -> dict[str, np.ndarray]:
    """Each network's probe embedding in the subject's protected space."""
    secret = services.secrets.template_secret
    return {name: protected_to_vector(protect_embedding(e, template.token, secret)) for name, e in embeddings.items()}


def load_signature_references(subject: dict, services: Services) -> list[np.ndarray]:
    blob = services.blobs.get(subject["signature"]["references"])
    return unpack_arrays(decrypt(blob, services.secrets.template_key, associated_data("signatures", subject["id"])))


def load_signature_writer_model(subject: dict, services: Services) -> bytes | None:
    """The stored writer model's bytes, or None for an enrolment made without one (the step rebuilds it)."""
    ref = subject["signature"].get("writer_model")
    if not ref:
        return None
    return decrypt(services.blobs.get(ref), services.secrets.template_key, associated_data("signature-writer-model", subject["id"]))


def erase_subject(subject_id: str, services: Services, queues: tuple[str, ...]) -> bool:
    """Erase everything that names the subject or holds its biometric data.

    Its template, references and enrolment images; every verification of it,
    with its images, crops and review copy, and the review record; waiting
    messages of those verifications in `queues` and their poison queues. The
    caller then pseudonymises the audit trail and calls
    `records.purge_deleted()`, so nothing deleted can be read back from the files.
    """
    verification_ids = {r["id"] for r in services.records.query(VERIFICATIONS, "subject_id", subject_id)}
    verification_ids |= {r["id"] for r in services.records.query(REVIEWS, "subject_id", subject_id)}
    deleted = 0
    for vid in sorted(verification_ids):
        deleted += delete_verification_blobs(services.blobs, vid)
        deleted += services.records.delete(REVIEWS, vid)
        deleted += services.records.delete(VERIFICATIONS, vid)
    existed = services.records.delete(SUBJECTS, subject_id)
    deleted += services.blobs.delete_prefix("images", f"subjects/{subject_id}/")
    services.queues.forget([*queues, *(f"{q}-poison" for q in queues)],
                           sorted(verification_ids) + [f'"subject_id":"{subject_id}"'])
    return existed or deleted > 0
