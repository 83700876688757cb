"""A small client for the bioauth HTTP API, for device integrators and operators. Standard library only.

    from bioauth_client import BioauthClient
    api = BioauthClient("http://127.0.0.1:7071/api", key="bioauth_...")  # a device's key
    result = api.verify("alice", face="face.jpg", signature="signature.png")
    print(result.outcome, result.reasons)

The operations and shapes follow the service's OpenAPI description (GET /api/openapi.json); each method names
the operation it calls. Answers that ask to come back later (429, or 503 with Retry-After) are retried after the
time the service gives, a bounded number of times; POSTs carry an Idempotency-Key, the same on every retry.
"""

from __future__ import annotations

from .client import (
    OPERATIONS,
    ApiError,
    BioauthClient,
    auth_headers,
    Verification,
    default_key,
    default_url,
    retry_delay,
    ServiceUnreachable,
)

__all__ = ["OPERATIONS", "ApiError", "BioauthClient", "auth_headers", "Verification", "default_key", "default_url", "retry_delay", "ServiceUnreachable"]
