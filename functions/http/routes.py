"""The HTTP API: verifications, enrolment, erasure, the review inbox and verdicts, image links, audit, health.

Every route names the roles that may call it (see access.py): devices create
and read their own verifications; operators enrol, renew and erase subjects,
read the audit trail and the detailed health; reviewers work the review inbox.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import mimetypes
import uuid
from urllib.parse import unquote

import azure.functions as func

from ..errors import Conflict, Forbidden, InvalidRequest, MissingField, SubjectNotEnrolled, Unauthorized, VerificationNotFound
from ..images import decode_image_field
from ..log_context import bind_verification
from ..messages import StepMessage
from ..runtime.health import health_report
from ..runtime.intake import (REPLAY_WAIT_SECONDS, HeldMessage, admit, check_replay, idempotency_key, keyed_verification_id,
                              redrive_stranded, request_fingerprint, send_with_retry)
from ..onnx_models import installed_models
from ..runtime.step_runner import TERMINAL, VERIFICATIONS, now_iso, run_chain
from ..runtime.waiting import wait_until_decided
from ..runtime.subjects import REVIEWS, erase_subject
from ..runtime.intake import accept_verification, check_subject_id, parse_verification_request
from ..runtime.image_links import case_image_links, case_images, check_link
from ..runtime.references import check_reference_link, read_reference, reference_links
from ..steps.table import STEPS
from ..storage import RecordWrite, update_record
from ..storage.audit import AuditEvent, pseudonym, pseudonym_key, step_models
from ..storage.api_keys import ROLES, CredentialInfo, IssuedKey, Principal, check_may_issue, check_may_rotate, key_event
from .endpoint import Call, json_response, route
from .enrolment import enrol_subject, renew_subject
from .openapi import openapi_document

VERDICTS = {"accept": "accepted", "reject": "rejected"}
NOTIFY = "notify"  # the step that calls the device back
# What the reviewer saw in front of the camera, when they judge it: labels for retraining the anti-spoofing model.
PRESENTATIONS = ("bona_fide", "attack")

bp = func.Blueprint()
log = logging.getLogger("bioauth.http")


def audit(services, principal: Principal, action: str, **fields) -> None:
    services.audit.append(AuditEvent(action=action, actor_id=principal.id, actor_role=principal.role,
                                     actor_key_id=principal.key_id, **fields))


def request_mode(req: func.HttpRequest) -> str:
    mode = req.params.get("mode") or "async"
    if mode not in ("async", "sync"):
        raise InvalidRequest("'mode' must be 'async' or 'sync'", code="invalid_field", details={"field": "mode"})
    return mode


def verification_view(record: dict) -> dict:
    """What a device sees of a record: status, decision, and per-step results with timings."""
    steps = {
        name: {k: entry.get(k) for k in ("result", "duration_ms", "started_at", "finished_at", "attempt")}
        for name, entry in (record.get("steps") or {}).items()
    }
    view = {
        "id": record["id"],
        "subject_id": record["subject_id"],
        "device_id": record.get("device_id"),
        "status": record["status"],
        "decision": record.get("decision"),
        "failure": record.get("failure"),
        "steps": steps,
        "created_at": record.get("created_at"),
        "updated_at": record.get("updated_at"),
    }
    if record.get("review"):
        view["review"] = record["review"]
    return view


@route(bp, "v1/verifications", "POST", roles=("device",), traced=True)
def create_verification(call: Call) -> func.HttpResponse:
    """Queue the request (202), or with ?mode=sync run it in-process while holding its first message (200).

    The route sends its messages itself rather than through output bindings: it must hold the first one's
    lease in sync mode, and withdraw the record when the queue refuses it (runtime/intake.py).
    """
    services, settings, principal = call.services, call.settings, call.principal
    first_queue = STEPS.first.queue
    mode = request_mode(call.req)
    data = call.json()
    if principal.role == "device":
        # A device speaks for itself: its id comes from its key, and a body naming another device is refused.
        if data.get("device_id") not in (None, "", principal.id):
            raise Forbidden("device_id names another device than this key's", code="device_mismatch",
                            details={"field": "device_id"})
        data["device_id"] = principal.id
    key = idempotency_key(call.req.headers)
    request = parse_verification_request(data, settings)

    def created(vid: str, subject_id: str = request.subject_id, device_id: str = request.device_id) -> AuditEvent:
        return AuditEvent(action="verification.created", actor_id=principal.id, actor_role=principal.role,
                          actor_key_id=principal.key_id, subject_id=subject_id, device_id=device_id, verification_id=vid, details={"mode": mode})

    if key is None:
        vid = uuid.uuid4().hex
        record, message = accept_verification(request, services, mode, verification_id=vid, created=created(vid))
    else:
        # Scoped to the device (for a device's key, the key's own device): two devices never share an id.
        vid = keyed_verification_id(request.device_id, key)
        fingerprint = request_fingerprint(request.subject_id, request.device_id, request.callback_url,
                                          request.face.data, request.signature.data)
        existing = services.records.get(VERIFICATIONS, vid)
        if existing is not None:
            return replay(check_replay(existing, fingerprint), mode, services)
        try:
            record, message = accept_verification(request, services, mode, verification_id=vid,
                                                  created=created(vid), fingerprint=fingerprint)
        except Conflict:  # the same key, concurrently: the first one stands
            return replay(check_replay(services.records.get(VERIFICATIONS, vid), fingerprint), mode, services)
    bind_verification(record["id"])
    lease = settings.sync_lease_seconds if mode == "sync" else 0.0
    first = admit(services, record, first_queue, message.to_json(), visibility_delay=lease)
    # The images are stored: this thread need not hold their base64 text and bytes while the sync chain runs
    # (16 concurrent 16-megapixel requests held about 4 MB each).
    del data, request
    location = f"/api/v1/verifications/{record['id']}"
    if mode == "async":
        return json_response({"id": record["id"], "status": "queued", "status_url": location}, 202, {"Location": location})

    with HeldMessage(services.queues, first_queue, first, lease) as held:
        stopped_before = run_chain(STEPS, message.to_json(), services)
        try:
            if stopped_before is not None:  # review and notify run on their queues, after the answer
                send_with_retry(services.queues, STEPS[stopped_before].queue, message.to_json(),
                                wait_seconds=settings.enqueue_wait_seconds)
            held.delete()
        except Exception as exc:  # noqa: BLE001 - the held message returns after its lease and the queue passes it on
            log.warning("verification %s: hand-off to %s failed (%s); the queue takes over", record["id"], stopped_before,
                        type(exc).__name__)
    final = services.records.get(VERIFICATIONS, record["id"])
    return json_response(verification_view(final), 200, {"Location": location})


def replay(record: dict, mode: str, services) -> func.HttpResponse:
    """The answer to a retry: the first verification, as it stands (sync waits a while for it to finish)."""
    location = f"/api/v1/verifications/{record['id']}"
    headers = {"Location": location, "Idempotent-Replayed": "true"}
    try:  # a request whose process died before sending its first message is sent on now, not left waiting
        redrive_stranded(services, record, STEPS.first.queue, found_by="keyed_retry")
    except Exception as exc:  # noqa: BLE001
        log.warning("verification %s: could not send again (%s)", record["id"], type(exc).__name__)
    if mode == "sync":
        vid = record["id"]
        record = wait_until_decided(vid, lambda: services.records.get(VERIFICATIONS, vid), REPLAY_WAIT_SECONDS) or record
        if record.get("status") in TERMINAL:
            return json_response(verification_view(record), 200, headers)
    return json_response({"id": record["id"], "status": record["status"], "status_url": location}, 202, headers)


def request_wait(req: func.HttpRequest, settings) -> float:
    """?wait=N: hold the answer up to N seconds (capped at BIOAUTH_MAX_WAIT_SECONDS) until the request is decided."""
    raw = req.params.get("wait")
    if raw is None or raw == "":
        return 0.0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidRequest("'wait' must be a number of seconds, 0 or more", code="invalid_field", details={"field": "wait"})
    return min(seconds, settings.max_wait_seconds)


def request_limit(req: func.HttpRequest, *, default: int, most: int) -> int:
    """?limit=N, a whole number from 1 to `most` (the bounds the API description declares); anything else is 400."""
    raw = req.params.get("limit") or str(default)
    bounds = {"field": "limit", "minimum": 1, "maximum": most}
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidRequest(f"'limit' must be a whole number from 1 to {most}", code="invalid_field", details=bounds) from None
    if not 1 <= limit <= most:
        raise InvalidRequest(f"'limit' must be from 1 to {most}, not {limit}", code="invalid_field", details=bounds)
    return limit


@route(bp, "v1/verifications/{id}", "GET", roles=("device", "operator"))
def get_verification(call: Call) -> func.HttpResponse:
    """A device reads only its own verifications (another's answers 404, as if absent); an operator reads any.

    With ?wait=N the answer comes as soon as the request is decided, or after N seconds as it stands: one
    request instead of a poll loop, and the decision is seen the moment it is made.
    """
    services, principal, vid = call.services, call.principal, call.path("id")
    wait = request_wait(call.req, services.settings)
    record = services.records.get(VERIFICATIONS, vid)
    if record is None or (principal.role == "device" and record.get("device_id") != principal.id):
        raise VerificationNotFound("no verification with this id")
    if wait and record.get("status") not in TERMINAL:
        record = wait_until_decided(vid, lambda: services.records.get(VERIFICATIONS, vid), wait) or record
    return json_response(verification_view(record))


def _image_list(data: dict, name: str, settings) -> list:
    values = data.get(name)
    if values is None:
        raise MissingField(f"'{name}' is required", details={"field": name})
    if not isinstance(values, list):
        raise InvalidRequest(f"'{name}' must be a list of base64 images", code="invalid_field", details={"field": name})
    return [
        decode_image_field(v, field=f"{name}[{i}]", max_bytes=settings.max_image_bytes,
                           max_pixels=settings.max_signature_pixels if name.startswith("signature") else settings.max_image_pixels)
        for i, v in enumerate(values)
    ]


@route(bp, "v1/subjects/{subject_id}/enrolment", "POST", roles=("operator",))
def enrol(call: Call) -> func.HttpResponse:
    subject_id = check_subject_id(call.path("subject_id"))
    data = call.json()
    faces = _image_list(data, "face_images", call.settings)
    signatures = _image_list(data, "signature_images", call.settings)
    summary = enrol_subject(subject_id, faces, signatures, call.services)
    audit(call.services, call.principal, "subject.enrolled", subject_id=subject_id,
          details={k: summary[k] for k in ("faces", "signatures", "face_model_version", "images_retained")})
    return json_response(summary, 201, {"Location": f"/api/v1/subjects/{subject_id}"})


@route(bp, "v1/subjects/{subject_id}/renewal", "POST", roles=("operator",))
def renew(call: Call) -> func.HttpResponse:
    """Cancel the subject's template and issue a new one from the retained enrolment images."""
    summary = renew_subject(check_subject_id(call.path("subject_id")), call.services)
    audit(call.services, call.principal, "subject.renewed", subject_id=summary["subject_id"],
          details={k: summary[k] for k in ("faces", "face_model_version")})
    return json_response(summary)


@route(bp, "v1/subjects/{subject_id}", "DELETE", roles=("operator",))
def delete_subject(call: Call) -> func.HttpResponse:
    services = call.services
    subject_id = check_subject_id(call.path("subject_id"))
    if not erase_subject(subject_id, services, STEPS.queues):
        raise SubjectNotEnrolled(f"subject {subject_id!r} is not enrolled")
    record_erasure(services, call.principal, subject_id)
    services.records.purge_deleted()  # last: no earlier copy of a row that named the subject stays in the files
    return func.HttpResponse(status_code=204)


def record_erasure(services, principal: Principal, subject_id: str) -> None:
    """The subject's audit events keep what happened but lose the name: the id becomes a keyed pseudonym,
    and the erasure itself is recorded under that pseudonym."""
    key = pseudonym_key(services.secrets)
    changed = services.audit.pseudonymise_subject(subject_id, key)
    audit(services, principal, "subject.erased", subject_id=pseudonym(subject_id, key), details={"records": changed})


def _case_view(record: dict, services, reviewer: Principal) -> dict:
    """What a reviewer sees: the record, with short-lived links to every image and to the subject's enrolled
    references (face photos as enrolled, signature canvases), the latter signed for this reviewer."""
    view = verification_view(record)
    view["images"] = case_image_links(services, record)
    view["references"] = reference_links(services, record["subject_id"], record["id"], reviewer.id)
    return view


@route(bp, "v1/reviews", "GET", roles=("reviewer",))
def list_review_cases(call: Call) -> func.HttpResponse:
    """Cases waiting for a reviewer, oldest first (the review console's inbox)."""
    limit = request_limit(call.req, default=50, most=200)
    waiting = sorted(call.services.records.query(VERIFICATIONS, "status", "review"), key=lambda r: r.get("created_at") or "")
    cases = [
        {"id": r["id"], "subject_id": r["subject_id"], "device_id": r.get("device_id"), "created_at": r.get("created_at"),
         "reasons": (r.get("decision") or {}).get("reasons", [])}
        for r in waiting[:limit]
    ]
    return json_response({"cases": cases, "count": len(waiting)})


def open_case(services, vid: str) -> dict:
    """A case still waiting for review; a closed one is not served as if open (409 `not_in_review`)."""
    record = services.records.get(VERIFICATIONS, vid)
    if record is None:
        raise VerificationNotFound("no verification with this id")
    if record.get("status") != "review":
        raise Conflict(f"verification is '{record.get('status')}', not waiting for review", code="not_in_review")
    return record


@route(bp, "v1/reviews/{id}", "GET", roles=("reviewer",))
def get_review_case(call: Call) -> func.HttpResponse:
    return json_response(_case_view(open_case(call.services, call.path("id")), call.services, call.principal))


@route(bp, "v1/reviews/{id}", "POST", roles=("reviewer",))
def post_review_verdict(call: Call) -> func.HttpResponse:
    """A reviewer's verdict closes the case and keeps it, with its images, as a labelled pair for retraining.

    Who gave it comes from the reviewer's credential; a `reviewer` field in the body is ignored.
    """
    services, principal, vid = call.services, call.principal, call.path("id")
    data = call.json()
    verdict = data.get("verdict")
    if not isinstance(verdict, str) or verdict not in VERDICTS:
        raise InvalidRequest("'verdict' must be 'accept' or 'reject'", code="invalid_field", details={"field": "verdict"})
    presentation = data.get("presentation")
    if presentation is not None and (not isinstance(presentation, str) or presentation not in PRESENTATIONS):
        raise InvalidRequest("'presentation' must be 'bona_fide' or 'attack' when given", code="invalid_field", details={"field": "presentation"})
    if presentation == "attack" and verdict == "accept":
        raise InvalidRequest("a presentation attack cannot be accepted: reject it", code="invalid_field", details={"field": "presentation"})
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > 2000:
        raise InvalidRequest("'note' must be a string of at most 2000 characters", code="invalid_field", details={"field": "note"})
    record = open_case(services, vid)
    closed = close_review(record, verdict, note, principal, services, presentation=presentation)
    return json_response(verification_view(closed))


def close_review(record: dict, verdict: str, note: str, reviewer: Principal, services, *, presentation: str | None = None) -> dict:
    """Close the case: the verdict on the record, its labelled pair and its `review.verdict` audit event in one
    conditional write (one transaction on SQLite), so of two reviewers racing only the winner's verdict is kept,
    labelled or audited; the loser gets 409 and writes nothing. A case erased meanwhile answers 404.

    The pair's images are copied first, into a folder of this verdict's own: a loser removes only its copies.
    """
    vid = record["id"]
    copies = f"{vid}/{uuid.uuid4().hex[:8]}/"
    pair_images = {}
    try:
        for name, ref in case_images(record).items():
            extension = ref.rsplit(".", 1)[-1]
            pair_images[name] = services.blobs.put(REVIEWS, f"{copies}{name}.{extension}", services.blobs.get(ref),
                                                   mimetypes.guess_type(ref)[0] or "application/octet-stream")
    except KeyError:  # an image went: the subject was erased (or the case changed) while the verdict was given
        services.blobs.delete_prefix(REVIEWS, copies)
        if services.records.get(VERIFICATIONS, vid) is None:
            raise VerificationNotFound("no verification with this id (erased meanwhile)") from None
        raise Conflict("the case's images changed meanwhile; open it again", code="not_in_review") from None
    reviewed_at = now_iso()
    review = {"verdict": verdict, "presentation": presentation, "note": note, "reviewer": reviewer.name,
              "reviewer_id": reviewer.id, "reviewed_at": reviewed_at}
    results = {step: (entry or {}).get("result") for step, entry in record.get("steps", {}).items()}
    pair = {
        "id": vid,
        "subject_id": record["subject_id"],
        "label": "genuine" if verdict == "accept" else "impostor",
        "service_reasons": (record.get("decision") or {}).get("reasons", []),
        "step_results": results,
        "images": pair_images,
        **review,
    }

    def mutate(doc: dict) -> dict | None:
        if doc.get("status") != "review":
            raise Conflict("the case was closed meanwhile", code="not_in_review")
        previous = doc.get("decision") or {}
        doc["status"] = VERDICTS[verdict]
        doc["decision"] = {"outcome": VERDICTS[verdict], "reasons": previous.get("reasons", []) + [f"reviewer_{verdict}"],
                           "by": "reviewer", "decided_at": reviewed_at, "service_outcome": previous.get("outcome")}
        doc["review"] = review
        doc["updated_at"] = reviewed_at
        told = (doc.get("steps") or {}).pop(NOTIFY, None)  # the device was told `review`: it is told the verdict too
        if told is not None:
            doc.setdefault("notified", []).append(told)
        return doc

    def verdict_event(doc: dict) -> list[AuditEvent]:
        return [AuditEvent(action="review.verdict", actor_id=reviewer.id, actor_role=reviewer.role, actor_key_id=reviewer.key_id,
                           subject_id=doc["subject_id"], device_id=doc.get("device_id"), verification_id=vid,
                           details={"verdict": verdict, "presentation": presentation,
                                    "service_outcome": (record.get("decision") or {}).get("outcome"), **step_models(record)})]

    try:
        closed = update_record(services.records, VERIFICATIONS, vid, mutate, audit=services.audit, events=verdict_event,
                               writes=lambda doc: [RecordWrite(REVIEWS, pair, upsert=True)])
    except Conflict:
        services.blobs.delete_prefix(REVIEWS, copies)
        raise
    if closed is None:  # erased between the copies and the write
        services.blobs.delete_prefix(REVIEWS, copies)
        raise VerificationNotFound("no verification with this id (erased meanwhile)")
    if closed.get("callback_url"):
        try:
            send_with_retry(services.queues, STEPS[NOTIFY].queue,
                            StepMessage(vid, closed["subject_id"], closed.get("images", {})).to_json(),
                            wait_seconds=services.settings.enqueue_wait_seconds)
        except Exception as exc:  # noqa: BLE001 - the verdict stands; the device reads it with GET
            log.warning("verification %s: verdict callback not queued (%s)", vid, type(exc).__name__)
    return closed


def linked_case(ref: str) -> str | None:
    """The verification whose image a link names: the device's images and the face crops belong to one case."""
    parts = ref.split("/")
    if len(parts) >= 4 and parts[:2] == ["images", "verifications"]:
        return parts[2]
    if len(parts) >= 3 and parts[0] == "crops":
        return parts[1]
    return None


@route(bp, "v1/blobs/{*ref}", "GET")
def get_linked_blob(call: Call) -> func.HttpResponse:
    """Images behind the short-lived links given to reviewers (embedded storage; Azure links are SAS URLs)."""
    services, req = call.services, call.req
    ref = unquote(call.path("ref"))
    if not check_link(ref, req.params.get("expires", ""), req.params.get("sig", ""), services.secrets.link_signing_key):
        raise Unauthorized("link is invalid or expired", code="invalid_link")
    case = linked_case(ref)
    if case is not None and (services.records.get(VERIFICATIONS, case) or {}).get("status") != "review":
        # A case's images are for deciding it: once closed (or erased), its links stop, whatever their expiry.
        raise VerificationNotFound("no such image (its case is closed)", code="not_found")
    try:
        data = services.blobs.get(ref)
    except KeyError:
        raise VerificationNotFound("no such image", code="not_found") from None
    return func.HttpResponse(data, status_code=200, mimetype=mimetypes.guess_type(ref)[0] or "application/octet-stream",
                             headers={"Cache-Control": "private, no-store"})


@route(bp, "v1/references/{subject_id}/{kind}/{index}", "GET")
def get_reference(call: Call) -> func.HttpResponse:
    """An enrolled reference behind a reviewer's short-lived link, decrypted; each access is audited under the
    reviewer the link was signed for."""
    services = call.services
    link = check_reference_link(services, call.path("subject_id"), call.path("kind"), call.path("index"), call.req.params)
    if (services.records.get(VERIFICATIONS, link.case_id) or {}).get("status") != "review":
        raise VerificationNotFound("no such reference (its case is closed)", code="not_found")  # as the case's images
    data, media_type = read_reference(services, link)
    # The credential that acted is the link signed for this reviewer (the API key stays in the console).
    services.audit.append(AuditEvent(action="reference.viewed", actor_id=link.reviewer_id, actor_role="reviewer",
                                     actor_key_id="signed-link", subject_id=link.subject_id, verification_id=link.case_id,
                                     details={"kind": link.kind, "index": link.index}))
    return func.HttpResponse(data, status_code=200, mimetype=media_type, headers={"Cache-Control": "private, no-store"})


@route(bp, "health", "GET")
def health(call: Call) -> func.HttpResponse:
    """Ok or degraded only, for anyone (the availability test): 503 when degraded, no names, hashes or queues."""
    report = health_report(call.services, STEPS.queues)
    return json_response({"status": report.status}, 200 if report.status == "ok" else 503)


@route(bp, "v1/health", "GET", roles=("operator",))
def health_details(call: Call) -> func.HttpResponse:
    """What an operator needs to know the service: what is degraded and why (dead or failing queue pollers, each
    queue's oldest message, a failing blob write or records read), storage homes, installed models with their sha256."""
    services = call.services
    report = health_report(services, STEPS.queues)
    return json_response({
        "status": report.status,
        "problems": report.problems,
        "storage": services.describe(),
        "models": installed_models(services.settings.models_dir),
        "queues": report.queues,
        "pollers": report.pollers,
        "blob_write": report.blob_write,
        "recovery": report.recovery,
    })


@route(bp, "v1/me", "GET", roles=ROLES)
def whoami(call: Call) -> func.HttpResponse:
    """The caller's own principal: the console checks a reviewer's key with it at sign-in."""
    principal = call.principal
    return json_response({"id": principal.id, "role": principal.role, "name": principal.name, "key_id": principal.key_id})


@route(bp, "v1/audit", "GET", roles=("operator",))
def read_audit(call: Call) -> func.HttpResponse:
    """The audit trail for one subject, device or actor (or the latest events), oldest first; operators only."""
    filters = {name: call.req.params.get(name) or None for name in ("subject_id", "device_id", "actor_id")}
    limit = request_limit(call.req, default=200, most=1000)
    events = call.services.audit.query(limit=limit, **filters)
    return json_response({"events": [dataclasses.asdict(e) for e in events], "count": len(events)})


def _key_view(key: IssuedKey | CredentialInfo) -> dict:
    """A key as the API shows it: never the hash or salt; the token only when the key was just made."""
    if isinstance(key, IssuedKey):
        return {**dataclasses.asdict(key.info), "token": key.token}
    return dataclasses.asdict(key)


@route(bp, "v1/keys", "GET", roles=("operator",))
def list_keys(call: Call) -> func.HttpResponse:
    """Every key: principal, role, state (never secrets); operators only."""
    return json_response({"keys": [_key_view(k) for k in call.services.credentials.all()]})


@route(bp, "v1/keys", "POST", roles=("operator",))
def create_key(call: Call) -> func.HttpResponse:
    """`{role, principal_id, name?}`: a new principal and its first key; the secret is in this answer only."""
    services, principal = call.services, call.principal
    data = call.json()
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        raise InvalidRequest("'name' must be a string of at most 200 characters", code="invalid_field", details={"field": "name"})
    check_may_issue(principal, data.get("role"))
    issued = services.credentials.issue(data.get("role"), data.get("principal_id"), name=name, created_by=principal.id)
    services.audit.append(key_event("key.created", issued, principal.id, principal.role, principal.key_id))
    return json_response(_key_view(issued), 201, {"Cache-Control": "no-store"})


@route(bp, "v1/keys/{key_id}/rotation", "POST", roles=("operator", "reviewer"))
def rotate_key(call: Call) -> func.HttpResponse:
    """A new key for the same principal; the old one is revoked unless `{"keep_old": true}` (a changeover).

    Operators rotate device keys and their own; reviewers their own; another reviewer's or operator's key only its
    holder or an admin (an operator never receives a secret that speaks for another person).
    """
    services, principal = call.services, call.principal
    keep_old = call.json(empty_is_object=True).get("keep_old", False)
    if not isinstance(keep_old, bool):
        raise InvalidRequest("'keep_old' must be true or false", code="invalid_field", details={"field": "keep_old"})
    key_id = call.path("key_id")
    check_may_rotate(principal, services.credentials.get(key_id))
    issued = services.credentials.rotate(key_id, created_by=principal.id, keep_old=keep_old)
    services.audit.append(key_event("key.rotated", issued, principal.id, principal.role, principal.key_id))
    return json_response(_key_view(issued), 201, {"Cache-Control": "no-store"})


@route(bp, "v1/keys/{key_id}", "DELETE", roles=("operator",))
def revoke_key(call: Call) -> func.HttpResponse:
    """The key stops working at once; it stays listed, revoked."""
    services, principal = call.services, call.principal
    info = services.credentials.revoke(call.path("key_id"))
    services.audit.append(key_event("key.revoked", info, principal.id, principal.role, principal.key_id))
    return json_response(_key_view(info))


@route(bp, "openapi.json", "GET")
def openapi(call: Call) -> func.HttpResponse:
    """The API's description (functions/http/openapi.py), for integrators' tools and the property-based tests."""
    return json_response(openapi_document(), headers={"Cache-Control": "no-cache"})
