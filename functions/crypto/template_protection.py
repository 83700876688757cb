"""Protected face templates: cancelable and encrypted at rest.

An embedding is projected with a random orthonormal matrix and permuted, both
seeded by HMAC(system secret, subject token), then quantised finely. An
orthonormal projection and a permutation keep Euclidean distances, so a probe
protected with the same subject's token is compared in the protected space
with the same calibrated threshold. Revoking the token (re-enrolment issues a
new one) gives a new, unlinkable template. The protected vectors are then
encrypted with AES-256-GCM, bound to the subject id.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import os
import secrets

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.exceptions import InvalidTag

from ..errors import TemplateUnreadable

QUANT_SCALE = 4096.0  # step 1/4096: distance error far below the model's precision


def new_subject_token() -> bytes:
    return secrets.token_bytes(32)


@functools.lru_cache(maxsize=64)
def _transform(subject_token: bytes, system_secret: bytes, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The subject's projection and permutation; cached because the QR costs more than the match itself."""
    seed = hmac.new(system_secret, subject_token + dim.to_bytes(4, "big"), hashlib.sha256).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    q *= np.sign(np.diag(r))  # a uniformly random orthonormal matrix
    perm = rng.permutation(dim)
    q.setflags(write=False)
    perm.setflags(write=False)
    return q, perm


def protect_embedding(embedding: np.ndarray, subject_token: bytes, system_secret: bytes) -> np.ndarray:
    """The cancelable form of one embedding (int32, distance-preserving up to quantisation)."""
    x = np.asarray(embedding, dtype=np.float64).ravel()
    q, perm = _transform(subject_token, system_secret, x.size)
    return np.round((q @ x)[perm] * QUANT_SCALE).astype(np.int32)


def protected_to_vector(protected: np.ndarray) -> np.ndarray:
    return protected.astype(np.float32) / np.float32(QUANT_SCALE)


def encrypt(data: bytes, key: bytes, associated: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, data, associated.encode())


def decrypt(blob: bytes, key: bytes, associated: str) -> bytes:
    """The plaintext; TemplateUnreadable when this key (or this subject and kind) does not open it."""
    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:], associated.encode())
    except InvalidTag:
        kind = associated.split(":")[1] if associated.count(":") >= 2 else "item"
        raise TemplateUnreadable(
            f"the subject's stored {kind} cannot be decrypted with this service's template key: it was enrolled "
            "under another key (BIOAUTH_KEY_VAULT_URL, or the local key file in BIOAUTH_DATA_DIR); restore that key "
            "or enrol the subject again", details={"kind": kind}) from None


def pack_arrays(arrays: list[np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, *arrays)
    return buf.getvalue()


def unpack_arrays(data: bytes) -> list[np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]
