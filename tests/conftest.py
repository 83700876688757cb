"""Shared fixtures: isolated settings per test, the embedded services, a local host on a free port, Azurite."""

from __future__ import annotations

import base64
import io
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "client"))  # the checkout's client, whatever .venv holds

FUNCTION_KEY = "test-function-key"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: dataset-wide or long-running (run with -m slow)")
    config.addinivalue_line("markers", "azurite: needs the Azurite storage emulator")


def png_b64(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def jpeg_b64(image: np.ndarray, quality: int = 92) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def settings_env(tmp_path, monkeypatch):
    """Settings pointing at a fresh data folder; returns a function to change settings before services open."""
    from functions import settings
    from functions.runtime import services

    monkeypatch.setenv("BIOAUTH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BIOAUTH_STORAGE", "embedded")
    monkeypatch.setenv("BIOAUTH_RECORDS", "sqlite")
    monkeypatch.setenv("BIOAUTH_LOCAL_FUNCTION_KEY", FUNCTION_KEY)
    monkeypatch.delenv("BIOAUTH_REVIEW_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("BIOAUTH_ALLOW_LOOPBACK_CALLBACKS", raising=False)
    monkeypatch.delenv("BIOAUTH_PUBLIC_BASE_URL", raising=False)
    settings.reset_settings()
    services.set_services(None)
    yield monkeypatch
    settings.reset_settings()
    services.set_services(None)


@pytest.fixture
def loopback_callbacks(settings_env):
    """Callbacks and the review webhook may reach receivers on 127.0.0.1 over http: in this test only."""
    settings_env.setenv("BIOAUTH_ALLOW_LOOPBACK_CALLBACKS", "true")
    return settings_env


@pytest.fixture
def embedded_services(settings_env):
    from functions.runtime.services import get_services

    return get_services()


@pytest.fixture(scope="session")
def app():
    from function_app import app as function_app

    return function_app


@pytest.fixture(scope="session")
def functions_index(app):
    """app.get_functions() may be called once per app object: share the local host's answer."""
    from local_host import app_functions

    return app_functions(app)


def start_host(services, **kwargs):
    from function_app import app
    from local_host import LocalHost

    return LocalHost(app, services, port=0, function_key=FUNCTION_KEY, **kwargs).start()


@pytest.fixture
def local_host(embedded_services):
    host = start_host(embedded_services, lease_seconds=10)
    yield host
    host.stop()


class Client:
    """requests against the local host: with a principal's credential, else the local bootstrap key."""

    def __init__(self, base_url: str, token: str | None = None):
        import requests

        self.base = base_url
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        else:
            self.http.headers["x-functions-key"] = FUNCTION_KEY

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path, **kw):
        return self.http.get(self.url(path), timeout=60, **kw)

    def post(self, path, **kw):
        return self.http.post(self.url(path), timeout=120, **kw)

    def delete(self, path, **kw):
        return self.http.delete(self.url(path), timeout=60, **kw)

    def wait_terminal(self, location: str, timeout: float = 60.0) -> dict:
        deadline = time.time() + timeout
        while True:
            body = self.get(location).json()
            if body["status"] in ("accepted", "rejected", "review", "failed") or time.time() > deadline:
                return body
            time.sleep(0.05)


@pytest.fixture
def client(local_host):
    return Client(local_host.url)


@pytest.fixture
def principals(embedded_services) -> dict[str, str]:
    """A credential for each kind of caller: two devices, an operator and a reviewer."""
    store = embedded_services.credentials
    return {
        "kiosk-1": store.issue("device", "kiosk-1", created_by="test").token,
        "kiosk-2": store.issue("device", "kiosk-2", created_by="test").token,
        "operator": store.issue("operator", "olivia", name="Olivia", created_by="test").token,
        "reviewer": store.issue("reviewer", "dana", name="Dana", created_by="test").token,
    }


@pytest.fixture(scope="session")
def azurite_connection(tmp_path_factory):
    """Azurite's connection string: from AZURITE_CONNECTION_STRING (CI starts it), or started here from node_modules."""
    conn = os.environ.get("AZURITE_CONNECTION_STRING")
    if conn:
        yield conn
        return
    exe = shutil.which("azurite") or (str(ROOT / "node_modules/.bin/azurite") if (ROOT / "node_modules/.bin/azurite").exists() else None)
    if exe is None:
        if os.environ.get("BIOAUTH_REQUIRE_AZURITE"):
            pytest.fail("BIOAUTH_REQUIRE_AZURITE is set but Azurite is neither running nor installed")
        pytest.skip("Azurite is not installed (npm ci) and AZURITE_CONNECTION_STRING is not set")
    from tests.helpers.servers import start_azurite

    proc, conn = start_azurite(exe, tries=200)
    yield conn
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def azurite_services(settings_env, azurite_connection):
    from functions.runtime.services import get_services

    settings_env.setenv("BIOAUTH_STORAGE", "azure")
    settings_env.setenv("AzureWebJobsStorage", azurite_connection)
    return get_services()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from tests.fixtures.photos import astronaut

    return astronaut()


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    from tests.fixtures.photos import grace_hopper

    return grace_hopper()
