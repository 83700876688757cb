"""The main job on the embedded default, as a device would see it.

Starts the local host, makes the principals it needs (an operator who enrols,
a device that verifies, a reviewer for the console; their keys go to
`<data dir>/demo-keys.json`, mode 0600), enrols a subject, then sends a genuine
attempt, an impostor and a printed-photo attack as the device, and prints each
decision with its reasons and step timings. Sample images exist on any machine: the
public-domain astronaut photo that scikit-image ships (Eileen Collins, NASA),
Grace Hopper's portrait that matplotlib ships (US Navy), and signatures and a
print attack that the project generates itself.

    python scripts/demo.py [--port 7071] [--keep-data]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from tests.fixtures.photos import astronaut, capture, grace_hopper
from tests.fixtures.signatures import make_forgery, make_signature
from tests.fixtures.spoof import make_print_attack, make_screen_replay

ROOT = Path(__file__).resolve().parent.parent


def sharper_camera(image: np.ndarray) -> np.ndarray:
    """The scene at twice the resolution: the simulated recaptures' defocus is then mild enough for the capture-quality
    check to pass them on to the anti-spoofing ensemble (at 512 px they are sent back for a retake as blurred)."""
    import cv2

    return cv2.resize(image, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LANCZOS4)


def blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    """The photo out of focus or shaken: a Gaussian blur of `sigma` pixels."""
    import cv2

    return cv2.GaussianBlur(image, (0, 0), sigma)


def b64(image: np.ndarray, fmt: str = "JPEG") -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, quality=92)
    return base64.b64encode(buf.getvalue()).decode()


def free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def host_env(data_dir: Path, key: str, **settings: str) -> dict[str, str]:
    return {**os.environ, "BIOAUTH_DATA_DIR": str(data_dir), "BIOAUTH_STORAGE": "embedded", "BIOAUTH_RECORDS": "sqlite",
            "BIOAUTH_LOCAL_FUNCTION_KEY": key, **settings}


def wait_until_healthy(proc: subprocess.Popen, port: int, log_path: Path, *, timeout: float = 60.0,
                       interval: float = 0.05) -> None:
    """Return once the host on `port` answers its health route; exit with a pointer to its log if it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/health", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"the local host stopped at start; see {log_path}")
        time.sleep(interval)
    raise SystemExit(f"the local host did not start in {timeout:.0f} s")


def launch_host(port: int, env: dict[str, str], log_path: Path, *args: str, timeout: float = 60.0,
                interval: float = 0.05) -> subprocess.Popen:
    """The local host as its own process (more `args` for local_host.py), returned once its health route answers."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "local_host.py"), "--port", str(port), *args], cwd=ROOT, env=env,
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    wait_until_healthy(proc, port, log_path, timeout=timeout, interval=interval)
    return proc


def start_host(port: int, data_dir: Path, key: str, **settings: str) -> subprocess.Popen:
    return launch_host(port, host_env(data_dir, key, **settings), data_dir / "host.log")


def make_principals(data_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """An operator, a device and a reviewer, made with the admin CLI; their keys saved to a 0600 file."""
    keys = {}
    for command, principal, name in (("create-operator", "demo-operator", "Demo operator"),
                                     ("create-device", "demo-kiosk", "Demo kiosk"),
                                     ("create-reviewer", "demo-reviewer", "Demo reviewer")):
        run = subprocess.run([sys.executable, "-m", "functions.admin", "--json", command, principal, "--name", name],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        keys[command.split("-", 1)[1]] = json.loads(run.stdout)["token"]
    path = data_dir / "demo-keys.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keys, f, indent=2)
    return keys


def _shown(path: Path) -> str:
    """A path relative to the repository when it is inside it, as a user would type it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def session(token: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    return s


def show(title: str, result: dict, elapsed_ms: float) -> None:
    decision = result.get("decision") or {}
    outcome = decision.get("outcome") or result["status"]
    reasons = ", ".join(decision.get("reasons", [])) or (result.get("failure") or {}).get("code", "")
    print(f"\n{title}\n  decision: {outcome.upper()}  ({reasons})   {elapsed_ms:.0f} ms end to end")
    retake = decision.get("retake")
    if retake:
        print(f"  retake: {retake['measure']} {retake['value']} against the limit {retake['limit']}: take another photo")
    for step, entry in result.get("steps", {}).items():
        r = entry.get("result") or {}
        detail = {
            "face-crop": lambda: f"faces={r.get('faces_found')} reason={r.get('reason')} "
                                 f"sharpness={(r.get('quality') or {}).get('measures', {}).get('sharpness')}",
            "antispoof": lambda: f"{r.get('label')} score={r.get('score')}",
            "face-match": lambda: f"{r.get('band')} score={r.get('score')} (accept >= {r.get('accept_at')}, review >= {r.get('review_at')})",
            "signature": lambda: f"{r.get('label')} score={r.get('score')}" if not r.get("reason") else f"reason={r['reason']}",
            "decide": lambda: f"{r.get('outcome')} {r.get('reasons')}",
            "review": lambda: f"webhook {r.get('status')}",
        }.get(step, lambda: "")()
        print(f"    {step:<11} {entry.get('duration_ms', 0):7.1f} ms  {detail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run bioauth's main job on the embedded default.")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bioauth" / "demo")
    parser.add_argument("--keep-data", action="store_true", help="keep the previous demo's data folder")
    parser.add_argument("--spoof-action", choices=("reject", "review"), default="reject",
                        help="BIOAUTH_SPOOF_ACTION for this run (reject, the service's default, or review)")
    args = parser.parse_args(argv)

    if args.data_dir.exists() and not args.keep_data:
        shutil.rmtree(args.data_dir)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    port = free_port(args.port)
    print(f"starting the local host on http://127.0.0.1:{port}/api (data in {_shown(args.data_dir)}, "
          f"log in {_shown(args.data_dir / 'host.log')})")
    keys = make_principals(args.data_dir, host_env(args.data_dir, key))
    print(f"operator, device and reviewer keys: {_shown(args.data_dir / 'demo-keys.json')} (Authorization: Bearer <key>;"
          f" the reviewer's signs in to the console)")
    host = start_host(port, args.data_dir, key, BIOAUTH_SPOOF_ACTION=args.spoof_action)
    operator, device = session(keys["operator"]), session(keys["device"])
    base = f"http://127.0.0.1:{port}/api"
    try:
        health = operator.get(f"{base}/v1/health").json()
        print("models:", ", ".join(f"{m['name']} {m['version']}" for m in health["models"]) or "none installed")

        person, other = astronaut(), grace_hopper()
        enrolment = {
            "face_images": [b64(capture(person, s)) for s in (1, 2, 3)],
            "signature_images": [b64(make_signature(7, s), "PNG") for s in range(4)],
        }
        r = operator.post(f"{base}/v1/subjects/astronaut/enrolment", json=enrolment, timeout=120)
        print(f"\nenrolled 'astronaut': HTTP {r.status_code} {r.json()}")
        if r.status_code != 201:
            return 1

        attempts = [
            ("1. genuine attempt: the enrolled person, her own signature (async: 202, then one held read)",
             capture(person, 11), make_signature(7, 11), False),
            ("2. impostor: another person, a forged signature (async)",
             other, make_forgery(7, 1), False),
            ("3. print attack: a printed photo of the enrolled person held to the camera (sync: one round trip)",
             make_print_attack(sharper_camera(capture(person, 12)), seed=2), make_signature(7, 12), True),
            ("4. screen replay: a photo of the enrolled person shown on a phone held to the camera (sync)",
             make_screen_replay(sharper_camera(capture(person, 12)), seed=2), make_signature(7, 12), True),
            ("5. blurred capture: the enrolled person moved as the camera fired (sync): asked to retake, not accused",
             blurred(capture(person, 11), sigma=3.0), make_signature(7, 11), True),
        ]
        for title, face, signature, sync in attempts:
            body = {"subject_id": "astronaut", "face_image": b64(face), "signature_image": b64(signature, "PNG")}
            t0 = time.perf_counter()
            if sync:
                result = device.post(f"{base}/v1/verifications?mode=sync", json=body, timeout=120).json()
            else:
                accepted = device.post(f"{base}/v1/verifications", json=body, timeout=120)
                location = accepted.headers["Location"]
                while True:  # one read, held until the decision (?wait=); a 429 says how long to wait
                    answer = device.get(f"http://127.0.0.1:{port}{location}?wait=20", timeout=60)
                    if answer.status_code == 429:
                        time.sleep(float(answer.headers.get("Retry-After", "1")))
                        continue
                    result = answer.json()
                    if result["status"] in ("accepted", "rejected", "review", "failed"):
                        break
            show(title, result, (time.perf_counter() - t0) * 1000)
    finally:
        host.terminate()
        host.wait(timeout=30)
    print("\nThe demo's host has stopped. To make your own calls, start one (.venv/bin/python local_host.py) and see"
          " the README's first calls (curl) and the bioauth command.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
