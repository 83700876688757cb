"""The embedded default keeps its key file outside the data folder: a copy of the folder yields ciphertext only."""

import base64
import json
import os
import shutil

import pytest

from functions.crypto.service_secrets import KeyFileInsideDataFolder
from functions.runtime.services import open_services
from functions.settings import Settings


def _settings(tmp_path, **env):
    return Settings.from_env({"BIOAUTH_DATA_DIR": str(tmp_path / "data"), "BIOAUTH_STORAGE": "embedded",
                              "BIOAUTH_RECORDS": "sqlite", **env})


def test_the_key_file_is_beside_the_data_folder_and_a_copy_of_the_folder_cannot_decrypt(tmp_path):
    services = open_services(_settings(tmp_path))
    ref = services.blobs.put("images", "verifications/v1/face.png", b"\x89PNG the face", "image/png")
    key_file = tmp_path / "data.keys" / "keys.json"
    assert key_file.is_file() and (key_file.stat().st_mode & 0o777) == 0o600
    assert not any(p.name == "keys.json" for p in (tmp_path / "data").rglob("*"))
    assert b"the face" not in (tmp_path / "data" / "blobs" / "images" / "verifications" / "v1" / "face.png").read_bytes()

    stolen = tmp_path / "elsewhere" / "data"
    shutil.copytree(tmp_path / "data", stolen)  # what an attacker with a copy of the data folder has
    thief = open_services(Settings.from_env({"BIOAUTH_DATA_DIR": str(stolen), "BIOAUTH_STORAGE": "embedded",
                                             "BIOAUTH_RECORDS": "sqlite"}))
    with pytest.raises(Exception):
        thief.blobs.get(ref)  # its own, new key: the images stay ciphertext
    assert open_services(_settings(tmp_path)).blobs.get(ref) == b"\x89PNG the face"  # the owner still reads them


def test_a_key_file_inside_the_data_folder_is_refused_at_start(tmp_path):
    for inside in ("data/keys.json", "data/sub/secrets.json"):
        with pytest.raises(KeyFileInsideDataFolder):
            open_services(_settings(tmp_path, BIOAUTH_SECRETS_FILE=str(tmp_path / inside)))
    assert not (tmp_path / "data" / "keys.json").exists()


def test_a_chosen_path_outside_is_used(tmp_path):
    target = tmp_path / "vault" / "bioauth.json"
    open_services(_settings(tmp_path, BIOAUTH_SECRETS_FILE=str(target)))
    assert set(json.loads(target.read_text())) >= {"template-key", "link-signing-key"}


def test_an_old_data_folder_has_its_key_file_moved_out(tmp_path):
    (tmp_path / "data").mkdir(mode=0o700)
    old = {name: base64.b64encode(bytes([i]) * 32).decode() for i, name in enumerate( ("template-key", "template-secret", "review-webhook-secret",
                                                 "link-signing-key", "callback-secret"))}
    legacy = tmp_path / "data" / "keys.json"
    fd = os.open(legacy, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(old, f)
    services = open_services(_settings(tmp_path))
    assert not legacy.exists()
    assert json.loads((tmp_path / "data.keys" / "keys.json").read_text()) == old  # the same keys: nothing lost
    assert services.secrets.template_key == bytes(32)
