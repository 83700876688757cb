"""Every setting the service reads, read in one place.

Settings come from environment variables (Azure App Settings in the cloud,
`local.settings.json` or the shell locally). `SETTINGS` is the single list of
names: the infrastructure tests check that the Bicep app settings name every
one marked `azure=True`, so a setting added here without the Bicep fails a test.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
# The storage connection every queue trigger and output binding uses (identity-based in Azure).
STORAGE_CONNECTION = "AzureWebJobsStorage"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    help: str
    azure: bool = True  # must appear in the Function App's settings in Azure


SETTINGS: tuple[Setting, ...] = (
    Setting("BIOAUTH_STORAGE", "embedded", "Blob and queue backend: 'embedded' (files + SQLite queue) or 'azure' (Blob + Storage queues, Azurite locally)."),
    Setting("BIOAUTH_RECORDS", "sqlite", "Records backend: 'sqlite' (embedded) or 'cosmos' (Cosmos DB NoSQL)."),
    Setting("BIOAUTH_DATA_DIR", ".bioauth", "Folder of the embedded default: images, SQLite records and queue, the local key file.", azure=False),
    Setting("BIOAUTH_MODELS_DIR", "models", "Folder holding one sub-folder per model (model.onnx + manifest.json)."),
    Setting("AzureWebJobsStorage", None, "Storage connection string (Azurite locally); in Azure use the identity-based __blobServiceUri/__queueServiceUri form.", azure=False),
    Setting("AzureWebJobsStorage__blobServiceUri", None, "Blob endpoint for identity-based access (Azure)."),
    Setting("AzureWebJobsStorage__queueServiceUri", None, "Queue endpoint for identity-based access (Azure)."),
    Setting("AzureWebJobsStorage__credential", None, "'managedidentity' in Azure."),
    Setting("AzureWebJobsStorage__clientId", None, "Client id of the user-assigned identity used for storage."),
    Setting("AZURE_CLIENT_ID", None, "Client id of the user-assigned identity, for DefaultAzureCredential."),
    Setting("BIOAUTH_COSMOS_ENDPOINT", None, "Cosmos DB account endpoint (records backend 'cosmos')."),
    Setting("BIOAUTH_COSMOS_DATABASE", "bioauth", "Cosmos DB database name."),
    Setting("BIOAUTH_KEY_VAULT_URL", None, "Key Vault holding the template key and signing secrets; empty = local key file."),
    Setting("BIOAUTH_REVIEW_WEBHOOK_URL", None, "Where cases in doubt are POSTed for human review; empty = record only."),
    Setting("BIOAUTH_ALLOW_LOOPBACK_CALLBACKS", "false", "Local development and tests only: callbacks and the review webhook may go to loopback receivers (127.0.0.0/8, ::1) over http. Refused on an Azure host.", azure=False),
    Setting("BIOAUTH_DELIVERY_DEADLINE_SECONDS", "5", "Total time one callback or webhook POST may take (connect, TLS, send, the answer's headers).", azure=False),
    Setting("BIOAUTH_DELIVERY_TRIES", "3", "POSTs per delivery before it is left to the queue's retries (within three deadlines in all).", azure=False),
    Setting("BIOAUTH_DELIVERY_PER_DESTINATION", "2", "Callback or webhook POSTs in flight to one host:port per worker process; more are deferred to the queue.", azure=False),
    Setting("BIOAUTH_REVIEW_LINK_TTL_SECONDS", "900", "Lifetime of the image links sent to reviewers."),
    Setting("BIOAUTH_PUBLIC_BASE_URL", None, "Public base URL of the API (Front Door endpoint), the only origin of links in webhooks, review cases and the console (never the request's Host header); empty = the local host's own address in development, relative links otherwise."),
    Setting("BIOAUTH_MAX_BODY_BYTES", "20000000", "Largest accepted request body."),
    Setting("BIOAUTH_MAX_IMAGE_BYTES", "8000000", "Largest accepted decoded image."),
    Setting("BIOAUTH_MAX_IMAGE_PIXELS", "16000000", "Largest accepted face photo area (width x height), checked from the header before decoding."),
    Setting("BIOAUTH_MAX_SIGNATURE_PIXELS", "4000000", "Largest accepted signature image area, checked from the header before decoding."),
    Setting("BIOAUTH_MAX_CONCURRENT_IMAGE_STEPS", "2", "Steps decoding device images (face-crop, signature) that run at once in one process, queue and ?mode=sync together: memory grows with this, not with the requests in flight."),
    Setting("BIOAUTH_ONNX_INTRA_OP_THREADS", "1", "Threads each ONNX Runtime session uses for one inference; 0 = ONNX Runtime's default (one per core). Requests run side by side, so one thread per inference keeps the cores for the other requests."),
    Setting("BIOAUTH_MULTIPLE_FACES", "dominant", "With several faces in the photo: 'dominant' (take the dominant face, flag the photo, refuse when two faces compete), 'reject' or 'largest'."),
    Setting("BIOAUTH_MIN_FACE_SCORE", "0.6", "Lowest face detection score accepted."),
    Setting("BIOAUTH_MIN_EYE_DISTANCE_PX", "24", "Smallest inter-eye distance in pixels accepted."),
    Setting("BIOAUTH_CONTEXT_SCALE", "2.0", "Face box enlargement for the context crop shown to reviewers (the anti-spoofing networks get their own crops, geometry from their manifest)."),
    Setting("BIOAUTH_SPOOF_ACTION", "reject", "On a spoof verdict: 'reject' at once (the chain ends early), or 'review' (a person decides; the chain runs on) while the detector is not validated on your cameras."),
    Setting("BIOAUTH_FACE_REVIEW_MARGIN", "0.0", "Widens the face review band (cosine score between the model's review and accept thresholds) on both sides."),
    Setting("BIOAUTH_TELEMETRY", "none", "Where traces and metrics go: 'azure' (Application Insights, needs APPLICATIONINSIGHTS_CONNECTION_STRING), 'console' (stdout, local development) or 'none'."),
    Setting("APPLICATIONINSIGHTS_CONNECTION_STRING", None, "Application Insights to export traces and metrics to (an address; the app signs in with its identity)."),
    Setting("BIOAUTH_RATE_LIMIT_PER_MINUTE", "120", "Requests a minute each key may make on average (token bucket per key, per instance); 0 = no limit."),
    Setting("BIOAUTH_RATE_LIMIT_BURST", "30", "Requests a key may make at once before the per-minute rate applies."),
    Setting("BIOAUTH_LOCAL_ADMIN_KEY", "true", "On one machine, the local function key acts as a bootstrap admin in every role (never with Cosmos DB or Key Vault).", azure=False),
    Setting("BIOAUTH_SYNC_LEASE_SECONDS", "60", "A ?mode=sync request's first message stays hidden this long (renewed while it runs); if the process dies, the queue finishes the request after it."),
    Setting("BIOAUTH_MAX_WAIT_SECONDS", "20", "The longest a device's status read may be held with ?wait= until its verification is decided (each waiting read holds a worker thread)."),
    Setting("BIOAUTH_ENQUEUE_WAIT_SECONDS", "10", "How long a device's POST waits for the queue to take its message before answering 503 with Retry-After."),
    Setting("BIOAUTH_RETAIN_ENROLMENT_IMAGES", "true", "Keep encrypted enrolment images so templates can be renewed."),
)

_DEFAULTS = {s.name: s.default for s in SETTINGS}


def azure_setting_names() -> list[str]:
    """Names the Function App must define in Azure (checked against infra/)."""
    return [s.name for s in SETTINGS if s.azure]


def host_json_queues(path: Path = REPO_ROOT / "host.json") -> dict:
    """host.json's extensions.queues: the retry policy the code and the local host share with the Functions host."""
    try:
        host = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    return host.get("extensions", {}).get("queues", {})


@dataclass(frozen=True)
class Settings:
    storage: str
    records: str
    data_dir: Path
    models_dir: Path
    storage_connection: str | None
    blob_service_uri: str | None
    queue_service_uri: str | None
    cosmos_endpoint: str | None
    cosmos_database: str
    key_vault_url: str | None
    review_webhook_url: str | None
    review_link_ttl_seconds: int
    allow_loopback_callbacks: bool
    delivery_deadline_seconds: float
    delivery_tries: int
    delivery_per_destination: int
    public_base_url: str | None
    max_body_bytes: int
    max_image_bytes: int
    max_image_pixels: int
    max_signature_pixels: int
    multiple_faces: str
    min_face_score: float
    min_eye_distance_px: float
    context_scale: float
    spoof_action: str
    face_review_margin: float
    retain_enrolment_images: bool
    telemetry: str = "none"
    appinsights_connection_string: str | None = None
    rate_limit_per_minute: float = 120.0
    rate_limit_burst: int = 30
    local_admin_key: bool = True
    sync_lease_seconds: float = 60.0
    max_wait_seconds: float = 20.0  # the longest a status read may be held with ?wait= (it holds a worker thread)
    max_concurrent_image_steps: int = 2
    onnx_intra_op_threads: int = 1
    enqueue_wait_seconds: float = 10.0
    max_dequeue_count: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, _DEFAULTS[name])
            return value if value not in ("",) else _DEFAULTS[name]

        def path(name: str) -> Path:
            p = Path(get(name) or "")
            return p if p.is_absolute() else (REPO_ROOT / p)

        queues = host_json_queues()
        storage = (get("BIOAUTH_STORAGE") or "embedded").lower()
        records = (get("BIOAUTH_RECORDS") or "sqlite").lower()
        multiple = (get("BIOAUTH_MULTIPLE_FACES") or "dominant").lower()
        spoof_action = (get("BIOAUTH_SPOOF_ACTION") or "reject").lower()
        if spoof_action not in ("reject", "review"):
            raise ValueError(f"BIOAUTH_SPOOF_ACTION must be 'reject' or 'review', not {spoof_action!r}")
        allow_loopback = (get("BIOAUTH_ALLOW_LOOPBACK_CALLBACKS") or "false").lower() in ("1", "true", "yes")
        if allow_loopback and env.get("WEBSITE_INSTANCE_ID"):  # set by App Service on every Azure host
            raise ValueError("BIOAUTH_ALLOW_LOOPBACK_CALLBACKS is for local development only, never on an Azure host")
        if storage not in ("embedded", "azure"):
            raise ValueError(f"BIOAUTH_STORAGE must be 'embedded' or 'azure', not {storage!r}")
        if records not in ("sqlite", "cosmos"):
            raise ValueError(f"BIOAUTH_RECORDS must be 'sqlite' or 'cosmos', not {records!r}")
        if multiple not in ("dominant", "reject", "largest"):
            raise ValueError(f"BIOAUTH_MULTIPLE_FACES must be 'dominant', 'reject' or 'largest', not {multiple!r}")
        return cls(
            storage=storage,
            records=records,
            data_dir=path("BIOAUTH_DATA_DIR"),
            models_dir=path("BIOAUTH_MODELS_DIR"),
            storage_connection=get("AzureWebJobsStorage"),
            blob_service_uri=get("AzureWebJobsStorage__blobServiceUri"),
            queue_service_uri=get("AzureWebJobsStorage__queueServiceUri"),
            cosmos_endpoint=get("BIOAUTH_COSMOS_ENDPOINT"),
            cosmos_database=get("BIOAUTH_COSMOS_DATABASE") or "bioauth",
            key_vault_url=get("BIOAUTH_KEY_VAULT_URL"),
            review_webhook_url=get("BIOAUTH_REVIEW_WEBHOOK_URL"),
            review_link_ttl_seconds=int(get("BIOAUTH_REVIEW_LINK_TTL_SECONDS") or 900),
            allow_loopback_callbacks=allow_loopback,
            delivery_deadline_seconds=float(get("BIOAUTH_DELIVERY_DEADLINE_SECONDS") or 5),
            delivery_tries=max(1, int(get("BIOAUTH_DELIVERY_TRIES") or 3)),
            delivery_per_destination=max(1, int(get("BIOAUTH_DELIVERY_PER_DESTINATION") or 2)),
            public_base_url=get("BIOAUTH_PUBLIC_BASE_URL"),
            max_body_bytes=int(get("BIOAUTH_MAX_BODY_BYTES") or 0),
            max_image_bytes=int(get("BIOAUTH_MAX_IMAGE_BYTES") or 0),
            max_image_pixels=int(get("BIOAUTH_MAX_IMAGE_PIXELS") or 0),
            max_signature_pixels=int(get("BIOAUTH_MAX_SIGNATURE_PIXELS") or 0),
            max_concurrent_image_steps=int(get("BIOAUTH_MAX_CONCURRENT_IMAGE_STEPS") or 2),
            onnx_intra_op_threads=max(0, int(get("BIOAUTH_ONNX_INTRA_OP_THREADS") or 0)),
            multiple_faces=multiple,
            min_face_score=float(get("BIOAUTH_MIN_FACE_SCORE") or 0),
            min_eye_distance_px=float(get("BIOAUTH_MIN_EYE_DISTANCE_PX") or 0),
            context_scale=float(get("BIOAUTH_CONTEXT_SCALE") or 2.0),
            spoof_action=spoof_action,
            face_review_margin=float(get("BIOAUTH_FACE_REVIEW_MARGIN") or 0.0),
            retain_enrolment_images=(get("BIOAUTH_RETAIN_ENROLMENT_IMAGES") or "true").lower() in ("1", "true", "yes"),
            telemetry=(get("BIOAUTH_TELEMETRY") or "none").lower(),
            appinsights_connection_string=get("APPLICATIONINSIGHTS_CONNECTION_STRING"),
            rate_limit_per_minute=float(get("BIOAUTH_RATE_LIMIT_PER_MINUTE") or 0),
            rate_limit_burst=max(1, int(get("BIOAUTH_RATE_LIMIT_BURST") or 1)),
            local_admin_key=(get("BIOAUTH_LOCAL_ADMIN_KEY") or "true").lower() in ("1", "true", "yes"),
            sync_lease_seconds=float(get("BIOAUTH_SYNC_LEASE_SECONDS") or 60),
            max_wait_seconds=float(get("BIOAUTH_MAX_WAIT_SECONDS") or 20),
            enqueue_wait_seconds=float(get("BIOAUTH_ENQUEUE_WAIT_SECONDS") or 10),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
        )


def timespan_seconds(value: str | int | float | None, default: float) -> float:
    """host.json writes time spans as 'hh:mm:ss'; absent means the host's default."""
    if value is None:
        return default
    if isinstance(value, (int, float)):
        return float(value)
    seconds = 0.0
    for part in str(value).split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def load_local_settings(path: Path = REPO_ROOT / "local.settings.json") -> None:
    """As Core Tools does: local.settings.json 'Values' become environment variables (the shell wins)."""
    if path.is_file():
        for key, value in json.loads(path.read_text()).get("Values", {}).items():
            os.environ.setdefault(key, str(value))


_cached: Settings | None = None


def get_settings() -> Settings:
    """The settings of this process, read once."""
    global _cached
    if _cached is None:
        _cached = Settings.from_env()
    return _cached


def reset_settings() -> None:
    """Forget the cached settings (tests and the local host change the environment)."""
    global _cached
    _cached = None
