"""Secrets the service needs: the template encryption key, the template projection secret,
the review webhook signing secret, the link signing key and the device callbacks' master secret.

In Azure they live in Key Vault and are read with the app's managed identity;
on one machine they live in a key file created on first run (mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

SECRET_NAMES = ("template-key", "template-secret", "review-webhook-secret", "link-signing-key", "callback-secret")
KEY_FILE = "keys.json"
log = logging.getLogger("bioauth.secrets")


@dataclass(frozen=True, repr=False)
class Secrets:
    template_key: bytes  # AES-256-GCM key for templates and enrolment images at rest
    template_secret: bytes  # system secret mixed with each subject's token for cancelable templates
    review_webhook_secret: bytes  # HMAC-SHA256 key of the review webhook
    link_signing_key: bytes  # HMAC key for short-lived image links served by the API
    callback_secret: bytes  # master of the per-device callback secrets (device_callback_secret)

    def __repr__(self) -> str:  # never print key material
        return "Secrets(<hidden>)"

    def device_callback_secret(self, device_id: str) -> bytes:
        """The key a device checks its callbacks with: HMAC-SHA256(callback secret, "bioauth-callback:" + device id).

        Derived, not stored: it can be re-made here and handed to the device
        (`python -m functions.admin callback-secret <device id>`), and one
        device's key says nothing about another's.
        """
        return hmac.new(self.callback_secret, f"bioauth-callback:{device_id}".encode(), hashlib.sha256).digest()

    @classmethod
    def from_values(cls, values: dict[str, str]) -> "Secrets":
        b = {name: base64.b64decode(values[name]) for name in SECRET_NAMES}
        return cls(b["template-key"], b["template-secret"], b["review-webhook-secret"], b["link-signing-key"], b["callback-secret"])


def _new_value() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _write_private(path: Path, values: dict[str, str]) -> None:
    """Replace the key file atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    os.replace(tmp, path)


class KeyFileInsideDataFolder(ValueError):
    """The local key file sits in the data folder: a copy of the folder would carry the key to its ciphertext."""


def local_secrets_path(data_dir: Path, secrets_file: Path | None = None) -> Path:
    """Where the embedded default keeps its key file: BIOAUTH_SECRETS_FILE, else `<data folder>.keys/keys.json`,
    beside the data folder and never in it (refused: KeyFileInsideDataFolder)."""
    data = Path(data_dir).resolve()
    path = Path(secrets_file) if secrets_file else data.with_name(data.name + ".keys") / KEY_FILE
    resolved = path.resolve()
    if resolved == data or data in resolved.parents:
        raise KeyFileInsideDataFolder(
            f"the key file {path} is inside the data folder {data_dir}: whoever copies the folder could decrypt it. "
            "Set BIOAUTH_SECRETS_FILE to a path outside it (or leave it empty for the default beside it)")
    return path


def _move_out_of_data_folder(data_dir: Path, path: Path) -> None:
    """A data folder made before the key file left it: move its keys.json out, once; refuse when both exist."""
    legacy = Path(data_dir) / KEY_FILE
    if not legacy.exists():
        return
    if path.exists():
        raise KeyFileInsideDataFolder(f"{legacy} is still in the data folder beside the key file {path}: "
                                      "compare them and delete the one in the data folder")
    private_parent(path)
    os.replace(legacy, path)
    log.warning("moved the key file out of the data folder: %s -> %s", legacy, path)


def private_parent(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)


def load_local_secrets(data_dir: Path, secrets_file: Path | None = None) -> Secrets:
    """The local key file (outside the data folder), created with fresh random keys the first time; a key added
    later is added to it."""
    path = local_secrets_path(data_dir, secrets_file)
    _move_out_of_data_folder(data_dir, path)
    private_parent(path)
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({name: _new_value() for name in SECRET_NAMES}, f)
        except FileExistsError:
            pass
    values = json.loads(path.read_text())
    missing = [name for name in SECRET_NAMES if name not in values]
    if missing:
        values.update({name: _new_value() for name in missing})
        _write_private(path, values)
        values = json.loads(path.read_text())
    return Secrets.from_values(values)


def load_key_vault_secrets(vault_url: str) -> Secrets:
    from azure.identity import DefaultAzureCredential
    from azure.keyvault.secrets import SecretClient

    client = SecretClient(vault_url=vault_url, credential=DefaultAzureCredential())
    return Secrets.from_values({name: client.get_secret(name).value for name in SECRET_NAMES})


def local_function_key(data_dir: Path) -> str:
    """The local host's function key: BIOAUTH_LOCAL_FUNCTION_KEY, or a key created once in the data folder (0600)."""
    if os.environ.get("BIOAUTH_LOCAL_FUNCTION_KEY"):
        return os.environ["BIOAUTH_LOCAL_FUNCTION_KEY"]
    path = Path(data_dir) / "local-function-key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
        except FileExistsError:
            pass
    return path.read_text().strip()
