"""Who is calling and what they may do, checked at the HTTP edge: credentials, roles, rate limits.

A caller presents `Authorization: Bearer <credential>`; the credential store
names the principal and its role. On one machine only, the local function key
(x-functions-key or ?code=) is a bootstrap `admin` that may act in every role,
so a fresh checkout can enrol, verify and review before any key is made; it is
off whenever records live in Cosmos DB or secrets in Key Vault, and by setting.
"""

from __future__ import annotations

import hmac
import math
import threading
import time

from ..errors import Forbidden, RateLimited, Unauthorized
from ..crypto.service_secrets import local_function_key
from ..storage.api_keys import ADMIN, Principal

LOCAL_ADMIN = Principal(id="local-admin", role=ADMIN, name="local-admin", key_id="local-function-key")


def bearer_token(headers) -> str:
    value = (headers.get("authorization") or headers.get("Authorization") or "").strip()
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def local_admin_enabled(settings) -> bool:
    return settings.local_admin_key and settings.records == "sqlite" and not settings.key_vault_url


def authenticate(headers, params, services) -> Principal:
    """The caller's principal; Unauthorized when no valid credential is presented."""
    authorization = (headers.get("authorization") or headers.get("Authorization") or "").strip()
    token = bearer_token(headers)
    if token:
        return services.credentials.identify(token)
    if authorization:
        raise Unauthorized("the Authorization header must be 'Bearer <key>'", code="malformed_credential")
    function_key = params.get("code") or headers.get("x-functions-key") or ""
    if function_key:
        if local_admin_enabled(services.settings) and \
                hmac.compare_digest(function_key.encode(), local_function_key(services.settings.data_dir).encode()):
            return LOCAL_ADMIN
        raise Unauthorized("the function key is not accepted here: send Authorization: Bearer <key>",
                           code="unknown_credential")
    raise Unauthorized("a credential is required: Authorization: Bearer <key>", code="missing_credential")


class TokenBucket:
    """Per-key token buckets in this process: `rate` tokens a second, at most `burst` saved up."""

    def __init__(self, per_minute: float, burst: int):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds until a token is back."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


_limiter: tuple[object, TokenBucket] | None = None
_limiter_lock = threading.Lock()


def limiter_for(services) -> TokenBucket:
    """One limiter per opened services (a test's fresh services get fresh buckets)."""
    global _limiter
    with _limiter_lock:
        if _limiter is None or _limiter[0] is not services:
            s = services.settings
            _limiter = (services, TokenBucket(s.rate_limit_per_minute, s.rate_limit_burst))
        return _limiter[1]


def authorize(req, services, *roles: str) -> Principal:
    """The caller, if one of `roles` and within its rate; raises Unauthorized, Forbidden or RateLimited."""
    principal = authenticate(req.headers, req.params, services)
    if not any(principal.may_act_as(role) for role in roles):
        raise Forbidden(f"a {principal.role} may not do this; it needs the {' or '.join(roles)} role",
                        details={"role": principal.role, "needs": list(roles)})
    if principal.role != ADMIN:
        wait = limiter_for(services).take(principal.key_id)
        if wait > 0:
            raise RateLimited("too many requests for this key: slow down", retry_after=max(1, math.ceil(wait)),
                              details={"retry_after_seconds": max(1, math.ceil(wait))})
    return principal
