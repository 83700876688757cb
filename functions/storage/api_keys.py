"""Principals and their credentials: who may call the API, and as what.

A credential is `bioauth_<key id>_<secret>`. The store keeps the key id, the
principal it belongs to, its role, a random salt and HMAC-SHA256(salt, secret);
never the secret itself, which is shown once when the key is made. The
secret is 256 random bits, so a salted hash is enough: there is nothing to
guess. The store lives on any RecordStore (SQLite on one machine, Cosmos DB in
Azure), in the `credentials` container.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from ..errors import Conflict, Forbidden, InvalidRequest, Unauthorized, VerificationNotFound

CREDENTIALS = "credentials"
ROLES = ("device", "operator", "reviewer")
ADMIN = "admin"  # the local development bootstrap key only: may act in every role
TOKEN_PREFIX = "bioauth"
PRINCIPAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")  # as a verification's device_id (runtime/intake.py)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a device, an operator or a reviewer, named by the credential they presented."""

    id: str  # device id, or the person's id
    role: str
    name: str  # shown in reviews and the audit trail
    key_id: str  # which credential (rate limits are kept per key)

    def may_act_as(self, role: str) -> bool:
        return self.role == role or self.role == ADMIN


@dataclass(frozen=True)
class CredentialInfo:
    """What the store may show of a credential: never the secret or its hash."""

    key_id: str
    principal_id: str
    role: str
    name: str
    created_at: str
    created_by: str
    revoked_at: str | None = None
    replaces: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, repr=False)
class IssuedKey:
    """A freshly made credential: the only moment its secret exists outside the caller's hands."""

    info: CredentialInfo
    token: str

    def __repr__(self) -> str:  # never print the secret by accident
        return f"IssuedKey({self.info.key_id}, {self.info.role} {self.info.principal_id})"


def _hash(salt: bytes, secret: str) -> str:
    return hmac.new(salt, secret.encode(), hashlib.sha256).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed credential, else None."""
    parts = (token or "").split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not re.fullmatch(r"[0-9a-f]{16}", parts[1]) or len(parts[2]) < 20:
        return None
    return parts[1], parts[2]


def check_principal_id(principal_id: str, role: str | None = None) -> str:
    """A person's id may be an email address; a device's is a device id as verifications carry it (no '@'), or its
    key could never be used."""
    pattern, allowed = (DEVICE_ID, "'.', '_', ':' or '-'") if role == "device" else (PRINCIPAL_ID, "'.', '_', ':', '@' or '-'")
    if not isinstance(principal_id, str) or not pattern.fullmatch(principal_id):
        raise InvalidRequest(f"a {role or 'principal'} id is 1-128 letters, digits, {allowed}", code="invalid_field",
                             details={"field": "principal_id"})
    return principal_id


class CredentialStore:
    def __init__(self, records):
        self.records = records

    def _info(self, doc: dict) -> CredentialInfo:
        return CredentialInfo(key_id=doc["id"], principal_id=doc["principal_id"], role=doc["role"], name=doc["name"],
                              created_at=doc["created_at"], created_by=doc["created_by"], revoked_at=doc.get("revoked_at"),
                              replaces=doc.get("replaces"))

    def issue(self, role: str, principal_id: str, *, name: str | None = None, created_by: str,
              replaces: str | None = None) -> IssuedKey:
        """A new key for a principal. A principal with an active key gets another only by rotation."""
        if role not in ROLES:
            raise InvalidRequest(f"role must be one of {', '.join(ROLES)}", code="invalid_field", details={"field": "role"})
        check_principal_id(principal_id, role)
        if replaces is None and any(c.active and c.role == role for c in self.for_principal(principal_id)):
            raise Conflict(f"{role} {principal_id!r} already has an active key: rotate it instead", code="principal_exists")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        doc = {
            "id": key_id,
            "kind": "credential",
            "principal_id": principal_id,
            "role": role,
            "name": (name or principal_id)[:200],
            "salt": salt.hex(),
            "hash": _hash(salt, secret),
            "created_at": _now(),
            "created_by": created_by,
            "revoked_at": None,
            "replaces": replaces,
        }
        self.records.create(CREDENTIALS, doc)
        return IssuedKey(self._info(doc), f"{TOKEN_PREFIX}_{key_id}_{secret}")

    def authenticate(self, token: str) -> Principal | None:
        """The principal of an active credential, or None (unknown, revoked or wrong secret alike)."""
        try:
            return self.identify(token)
        except Unauthorized:
            return None

    def identify(self, token: str) -> Principal:
        """The principal of an active credential; Unauthorized saying why not. A revoked key is named as such
        only to a caller who holds its secret: a guessed key id with a wrong secret is `unknown_credential`."""
        parsed = parse_token(token)
        if parsed is None:
            raise Unauthorized("the credential is not a bioauth key (bioauth_<16 hex>_<secret>)", code="malformed_credential")
        key_id, secret = parsed
        doc = self.records.get(CREDENTIALS, key_id)
        if doc is None or not hmac.compare_digest(_hash(bytes.fromhex(doc["salt"]), secret), doc["hash"]):
            raise Unauthorized("the credential is not known here (mistyped, or issued by another deployment)",
                               code="unknown_credential")
        if doc.get("revoked_at"):
            raise Unauthorized(f"the credential was revoked at {doc['revoked_at']}: ask an operator for a new one",
                               code="revoked_credential")
        return Principal(id=doc["principal_id"], role=doc["role"], name=doc["name"], key_id=key_id)

    def get(self, key_id: str) -> CredentialInfo:
        doc = self.records.get(CREDENTIALS, key_id)
        if doc is None:
            raise VerificationNotFound(f"no key {key_id!r}", code="unknown_key")
        return self._info(doc)

    def all(self) -> list[CredentialInfo]:
        docs = self.records.query(CREDENTIALS, "kind", "credential")
        return sorted((self._info(d) for d in docs), key=lambda c: (c.role, c.principal_id, c.created_at))

    def for_principal(self, principal_id: str) -> list[CredentialInfo]:
        return [self._info(d) for d in self.records.query(CREDENTIALS, "principal_id", principal_id)]

    def revoke(self, key_id: str) -> CredentialInfo:
        """Revoked keys stay listed (who had access, and until when); they never authenticate again."""
        from . import update_record

        def mutate(doc: dict) -> dict | None:
            if doc.get("revoked_at"):
                return None
            doc["revoked_at"] = _now()
            return doc

        doc = update_record(self.records, CREDENTIALS, key_id, mutate)
        if doc is None:
            raise VerificationNotFound(f"no key {key_id!r}", code="unknown_key")
        return self._info(doc)

    def rotate(self, key_id: str, *, created_by: str, keep_old: bool = False) -> IssuedKey:
        """A new key for the same principal and role; the old one is revoked unless kept for a changeover."""
        old = self.get(key_id)
        if not old.active:
            raise Conflict(f"key {key_id!r} is revoked: issue a new one", code="key_revoked")
        new = self.issue(old.role, old.principal_id, name=old.name, created_by=created_by, replaces=key_id)
        if not keep_old:
            self.revoke(key_id)
        return new


def check_may_issue(actor: Principal, role: str) -> None:
    """No principal obtains another's secret: an operator issues device keys only. Reviewer and operator keys are
    made by an admin (the admin command, or the local bootstrap key), so an operator cannot mint itself a reviewer."""
    if role not in ROLES:
        return  # issue() says what the roles are (400)
    if actor.role != ADMIN and not (actor.role == "operator" and role == "device"):
        raise Forbidden(f"a {actor.role} may issue device keys only; {role} keys are made by an admin "
                        f"(python -m functions.admin create-{role})", code="forbidden_key_role", details={"role": role})


def check_may_rotate(actor: Principal, key: CredentialInfo) -> None:
    """A rotation hands out a working secret: an operator rotates device keys and its own, a reviewer its own;
    another reviewer's or operator's key only an admin (or that principal itself)."""
    own = key.principal_id == actor.id and key.role == actor.role
    if actor.role == ADMIN or own or (actor.role == "operator" and key.role == "device"):
        return
    raise Forbidden(f"a {actor.role} may rotate its own key{' and device keys' if actor.role == 'operator' else ''} only; "
                    f"this {key.role}'s key is rotated by its holder or an admin", code="forbidden_key_role",
                    details={"role": key.role})


def key_event(action: str, key: "IssuedKey | CredentialInfo", actor_id: str, actor_role: str, actor_key_id: str):
    """The audit event of a key made, rotated or revoked: which key of whom, by which key, never its secret."""
    from .audit import AuditEvent

    info = key.info if isinstance(key, IssuedKey) else key
    return AuditEvent(action=action, actor_id=actor_id, actor_role=actor_role, actor_key_id=actor_key_id,
                      device_id=info.principal_id if info.role == "device" else None,
                      details={"key_id": info.key_id, "role": info.role, "principal_id": info.principal_id,
                               **({"replaces": info.replaces} if info.replaces else {})})
