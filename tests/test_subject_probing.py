"""Devices can tell an enrolled subject id from an unknown one (404 unknown_subject against 202): kept on purpose and
bounded. A device key is a trusted kiosk that already holds the ids it verifies; the per-key rate limit caps probing
at the key's rate, and each probe costs the prober a full request with two images."""

import numpy as np

from tests.conftest import Client, png_b64


def test_probing_subject_ids_answers_404_then_429_at_the_keys_rate(settings_env):
    settings_env.setenv("BIOAUTH_RATE_LIMIT_BURST", "3")
    settings_env.setenv("BIOAUTH_RATE_LIMIT_PER_MINUTE", "6")
    from functions.runtime.services import get_services
    from tests.conftest import start_host

    services = get_services()
    token = services.credentials.issue("device", "kiosk-1", created_by="test").token
    host = start_host(services, lease_seconds=10)
    try:
        device = Client(host.url, token)
        blank = png_b64(np.full((64, 64, 3), 180, np.uint8))
        answers = [device.post("/api/v1/verifications", json={"subject_id": f"guess-{n}", "face_image": blank,
                                                               "signature_image": blank}) for n in range(5)]
        codes = [(r.status_code, r.json()["error"]["code"]) for r in answers]
        assert codes[:3] == [(404, "unknown_subject")] * 3
        assert codes[3:] == [(429, "rate_limited")] * 2 and int(answers[3].headers["Retry-After"]) >= 1
    finally:
        host.stop()
