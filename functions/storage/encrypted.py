"""Biometric images encrypted at rest, in either home: every blob of the images, crops and reviews containers.

The store wraps the Blob or file store: AES-256-GCM with a fresh nonce per
write, bound to the blob's reference (container/name) so a blob copied to
another name does not decrypt. Models are public artefacts and pass through.
Blobs written before encryption (no marker) are read as they are.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import TemplateUnreadable

MARKER = b"BAE1"  # bioauth AES-GCM, version 1
ENCRYPTED_CONTAINERS = ("images", "crops", "reviews")


def _aad(ref: str) -> bytes:
    return f"bioauth:blob:{ref}".encode()


class EncryptedBlobStore:
    """A BlobStore whose images, crops and review copies exist only as ciphertext in the store underneath."""

    def __init__(self, inner, key: bytes):
        self.inner = inner
        self._aead = AESGCM(key)

    @property
    def backend(self) -> str:
        return f"{self.inner.backend}+aes-gcm"

    def put(self, container: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        if container in ENCRYPTED_CONTAINERS:
            nonce = os.urandom(12)
            data = MARKER + nonce + self._aead.encrypt(nonce, data, _aad(f"{container}/{name}"))
        return self.inner.put(container, name, data, content_type)

    def get(self, ref: str) -> bytes:
        data = self.inner.get(ref)
        if ref.partition("/")[0] in ENCRYPTED_CONTAINERS and data.startswith(MARKER):
            try:
                return self._aead.decrypt(data[4:16], data[16:], _aad(ref))
            except InvalidTag:
                raise TemplateUnreadable(
                    f"the stored object {ref!r} cannot be decrypted with this service's template key: it was written "
                    "under another key (BIOAUTH_KEY_VAULT_URL, or the local key file in BIOAUTH_DATA_DIR)",
                    details={"ref": ref}) from None
        return data

    def delete_prefix(self, container: str, prefix: str) -> int:
        return self.inner.delete_prefix(container, prefix)

    def ensure_containers(self) -> None:
        self.inner.ensure_containers()
