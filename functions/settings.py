"""Every setting the service reads, read in one place.

Settings come from environment variables (Azure App Settings in the cloud,
`local.settings.json` or the shell locally). `SETTINGS` is the single list of
names, defaults, meanings and checks: `Settings.from_env` fills each field from
its row, so a default is written once, and a value that cannot be used stops the
start with an error naming the setting. The infrastructure tests check that the
Bicep app settings name every one marked `azure=True`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
# The storage connection every queue trigger and output binding uses (identity-based in Azure).
STORAGE_CONNECTION = "AzureWebJobsStorage"


class SettingError(ValueError):
    """A setting's value cannot be used; the message names the setting, what it must be and what it was."""


def text(value: str) -> str:
    return value


def one_of(*choices: str) -> Callable[[str], str]:
    """A word from `choices` (any case)."""

    def read(value: str) -> str:
        if value.lower() not in choices:
            raise ValueError(" or ".join(f"'{c}'" for c in choices))
        return value.lower()

    return read


def flag(value: str) -> bool:
    words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if value.lower() not in words:
        raise ValueError("true or false")
    return words[value.lower()]


def whole(minimum: int) -> Callable[[str], int]:
    def read(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise ValueError(f"a whole number of at least {minimum}")
        return number

    return read


def number(minimum: float, maximum: float = math.inf, *, above: bool = False) -> Callable[[str], float]:
    """A finite number from `minimum` (or above it, with `above`) to `maximum`."""

    def read(value: str) -> float:
        try:
            x = float(value)
        except ValueError:
            x = math.nan
        if not math.isfinite(x) or x < minimum or (above and x == minimum) or x > maximum:
            bound = f"above {minimum:g}" if above else f"at least {minimum:g}"
            raise ValueError(f"a number {bound}" + (f" and at most {maximum:g}" if math.isfinite(maximum) else ""))
        return x

    return read


def folder(value: str) -> Path:
    """A folder; a relative one is under the repository."""
    path = Path(value)
    return path if path.is_absolute() else REPO_ROOT / path


@dataclass(frozen=True)
class Setting:
    """One environment variable: its default (as the environment would write it), what it means, and how it is read.

    `field` is the Settings attribute it fills (none: read by the Functions host or the Azure SDK, not by us);
    `read` turns a value into that attribute, or raises ValueError saying what the value must be.
    """

    name: str
    default: str | None
    help: str
    field: str | None = None
    read: Callable[[str], object] = text
    azure: bool = True  # must appear in the Function App's settings in Azure

    def value(self, env: Mapping[str, str]) -> object:
        """Its value in `env`; absent or empty is the default (None when it has none)."""
        raw = env.get(self.name) or self.default
        if raw is None:
            return None
        try:
            return self.read(raw)
        except ValueError as exc:
            raise SettingError(f"{self.name} must be {exc}, not {raw!r}") from None


SETTINGS: tuple[Setting, ...] = (
    Setting("BIOAUTH_STORAGE", "embedded", "Blob and queue backend: 'embedded' (files + SQLite queue) or 'azure' (Blob + Storage queues, Azurite locally).",
            "storage", one_of("embedded", "azure")),
    Setting("BIOAUTH_RECORDS", "sqlite", "Records backend: 'sqlite' (embedded) or 'cosmos' (Cosmos DB NoSQL).", "records", one_of("sqlite", "cosmos")),
    Setting("BIOAUTH_DATA_DIR", ".bioauth", "Folder of the embedded default: images, SQLite records and queue.", "data_dir", folder, azure=False),
    Setting("BIOAUTH_SECRETS_FILE", None, "The embedded default's key file (template key, signing secrets), outside the data folder: empty = '<data folder>.keys/keys.json' beside it. One inside the data folder is refused at start.",
            "secrets_file", folder, azure=False),
    Setting("BIOAUTH_MODELS_DIR", "models", "Folder holding one sub-folder per model (model.onnx + manifest.json).", "models_dir", folder),
    Setting("AzureWebJobsStorage", None, "Storage connection string (Azurite locally); in Azure use the identity-based __blobServiceUri/__queueServiceUri form.",
            "storage_connection", azure=False),
    Setting("AzureWebJobsStorage__blobServiceUri", None, "Blob endpoint for identity-based access (Azure).", "blob_service_uri"),
    Setting("AzureWebJobsStorage__queueServiceUri", None, "Queue endpoint for identity-based access (Azure).", "queue_service_uri"),
    Setting("AzureWebJobsStorage__credential", None, "'managedidentity' in Azure."),
    Setting("AzureWebJobsStorage__clientId", None, "Client id of the user-assigned identity used for storage."),
    Setting("AZURE_CLIENT_ID", None, "Client id of the user-assigned identity, for DefaultAzureCredential."),
    Setting("BIOAUTH_COSMOS_ENDPOINT", None, "Cosmos DB account endpoint (records backend 'cosmos').", "cosmos_endpoint"),
    Setting("BIOAUTH_COSMOS_DATABASE", "bioauth", "Cosmos DB database name.", "cosmos_database"),
    Setting("BIOAUTH_KEY_VAULT_URL", None, "Key Vault holding the template key and signing secrets; empty = local key file.", "key_vault_url"),
    Setting("BIOAUTH_REVIEW_WEBHOOK_URL", None, "Where cases in doubt are POSTed for human review; empty = record only.", "review_webhook_url"),
    Setting("BIOAUTH_ALLOW_LOOPBACK_CALLBACKS", "false", "Local development and tests only: callbacks and the review webhook may go to loopback receivers (127.0.0.0/8, ::1) over http. Refused on an Azure host.",
            "allow_loopback_callbacks", flag, azure=False),
    Setting("BIOAUTH_DELIVERY_DEADLINE_SECONDS", "5", "Total time one callback or webhook POST may take (connect, TLS, send, the answer's headers).",
            "delivery_deadline_seconds", number(0, above=True), azure=False),
    Setting("BIOAUTH_DELIVERY_TRIES", "3", "POSTs per delivery before it is left to the queue's retries (within three deadlines in all).",
            "delivery_tries", whole(1), azure=False),
    Setting("BIOAUTH_DELIVERY_PER_DESTINATION", "2", "Callback or webhook POSTs in flight to one host:port per worker process; more are deferred to the queue.",
            "delivery_per_destination", whole(1), azure=False),
    Setting("BIOAUTH_REVIEW_LINK_TTL_SECONDS", "900", "Lifetime of the image links sent to reviewers.", "review_link_ttl_seconds", whole(1)),
    Setting("BIOAUTH_PUBLIC_BASE_URL", None, "Public base URL of the API (Front Door endpoint), the only origin of links in webhooks, review cases and the console (never the request's Host header); empty = the local host's own address in development, relative links otherwise.",
            "public_base_url"),
    Setting("BIOAUTH_MAX_BODY_BYTES", "20000000", "Largest accepted request body.", "max_body_bytes", whole(1)),
    Setting("BIOAUTH_MAX_IMAGE_BYTES", "8000000", "Largest accepted decoded image.", "max_image_bytes", whole(1)),
    Setting("BIOAUTH_MAX_IMAGE_PIXELS", "16000000", "Largest accepted face photo area (width x height), checked from the header before decoding.",
            "max_image_pixels", whole(1)),
    Setting("BIOAUTH_MAX_SIGNATURE_PIXELS", "4000000", "Largest accepted signature image area, checked from the header before decoding.",
            "max_signature_pixels", whole(1)),
    Setting("BIOAUTH_MAX_CONCURRENT_IMAGE_STEPS", "2", "Steps decoding device images (face-crop, signature) that run at once in one process, queue and ?mode=sync together: memory grows with this, not with the requests in flight.",
            "max_concurrent_image_steps", whole(1)),
    Setting("BIOAUTH_ONNX_INTRA_OP_THREADS", "1", "Threads each ONNX Runtime session uses for one inference; 0 = ONNX Runtime's default (one per core). Requests run side by side, so one thread per inference keeps the cores for the other requests.",
            "onnx_intra_op_threads", whole(0)),
    Setting("BIOAUTH_MULTIPLE_FACES", "dominant", "With several faces in the photo: 'dominant' (take the dominant face, flag the photo, refuse when two faces compete), 'reject' or 'largest'.",
            "multiple_faces", one_of("dominant", "reject", "largest")),
    Setting("BIOAUTH_MIN_FACE_SCORE", "0.6", "Lowest face detection score accepted.", "min_face_score", number(0, 1)),
    Setting("BIOAUTH_MIN_EYE_DISTANCE_PX", "24", "Smallest inter-eye distance in pixels accepted.", "min_eye_distance_px", number(0)),
    Setting("BIOAUTH_CONTEXT_SCALE", "2.0", "Face box enlargement for the context crop shown to reviewers (the anti-spoofing networks get their own crops, geometry from their manifest).",
            "context_scale", number(0, above=True)),
    Setting("BIOAUTH_SPOOF_ACTION", "reject", "On a spoof verdict: 'reject' at once (the chain ends early), or 'review' (a person decides; the chain runs on) while the detector is not validated on your cameras.",
            "spoof_action", one_of("reject", "review")),
    Setting("BIOAUTH_DECISION_POLICY", "fused", "How the checks make one decision: 'fused' (vetoes, then the sum of the checks' calibrated log-likelihood ratios against the thresholds in models/decision/policy.json) or 'all' (every check must be in its own accept zone; any doubt goes to review).",
            "decision_policy", one_of("all", "fused")),
    Setting("BIOAUTH_FACE_REVIEW_MARGIN", "0.0", "Widens the face review band (cosine score between the model's review and accept thresholds) on both sides.",
            "face_review_margin", number(0)),
    Setting("BIOAUTH_LOG_FORMAT", "text", "Log lines as 'text' or 'json' (one object a line); both carry the request, verification and trace ids.",
            "log_format", one_of("text", "json")),
    Setting("BIOAUTH_TELEMETRY", "none", "Where traces and metrics go: 'azure' (Application Insights, needs APPLICATIONINSIGHTS_CONNECTION_STRING), 'console' (stdout, local development) or 'none'.",
            "telemetry", one_of("azure", "console", "none")),
    Setting("APPLICATIONINSIGHTS_CONNECTION_STRING", None, "Application Insights to export traces and metrics to (an address; the app signs in with its identity).",
            "appinsights_connection_string"),
    Setting("BIOAUTH_RATE_LIMIT_PER_MINUTE", "120", "Requests a minute each key may make on average (token bucket per key, per instance); 0 = no limit.",
            "rate_limit_per_minute", number(0)),
    Setting("BIOAUTH_RATE_LIMIT_BURST", "30", "Requests a key may make at once before the per-minute rate applies.", "rate_limit_burst", whole(1)),
    Setting("BIOAUTH_LOCAL_ADMIN_KEY", "true", "On one machine, the local function key acts as a bootstrap admin in every role (never with Cosmos DB or Key Vault).",
            "local_admin_key", flag, azure=False),
    Setting("BIOAUTH_SYNC_LEASE_SECONDS", "60", "A ?mode=sync request's first message stays hidden this long (renewed while it runs); if the process dies, the queue finishes the request after it.",
            "sync_lease_seconds", number(0, above=True)),
    Setting("BIOAUTH_MAX_WAIT_SECONDS", "20", "The longest a device's status read may be held with ?wait= until its verification is decided (each waiting read holds a worker thread).",
            "max_wait_seconds", number(0)),
    Setting("BIOAUTH_ENQUEUE_WAIT_SECONDS", "10", "How long a device's POST waits for the queue to take its message before answering 503 with Retry-After.",
            "enqueue_wait_seconds", number(0)),
    Setting("BIOAUTH_RETAIN_ENROLMENT_IMAGES", "true", "Keep encrypted enrolment images so templates can be renewed.", "retain_enrolment_images", flag),
)

# The Functions host's own default for host.json's extensions.queues.maxDequeueCount.
HOST_MAX_DEQUEUE_COUNT = 5


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
    """The service's settings as values (what each means and its default: SETTINGS)."""

    storage: str
    records: str
    data_dir: Path
    secrets_file: Path | None
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
    max_concurrent_image_steps: int
    onnx_intra_op_threads: int
    multiple_faces: str
    min_face_score: float
    min_eye_distance_px: float
    context_scale: float
    spoof_action: str
    face_review_margin: float
    decision_policy: str
    telemetry: str
    log_format: str
    appinsights_connection_string: str | None
    rate_limit_per_minute: float
    rate_limit_burst: int
    local_admin_key: bool
    sync_lease_seconds: float
    max_wait_seconds: float
    enqueue_wait_seconds: float
    retain_enrolment_images: bool
    max_dequeue_count: int  # host.json's, not an environment variable

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Every setting read and checked; a value that cannot be used raises SettingError naming it."""
        env = os.environ if env is None else env
        values = {s.field: s.value(env) for s in SETTINGS if s.field}
        if values["allow_loopback_callbacks"] and env.get("WEBSITE_INSTANCE_ID"):  # set by App Service on every Azure host
            raise SettingError("BIOAUTH_ALLOW_LOOPBACK_CALLBACKS is for local development only, never on an Azure host")
        return cls(**values, max_dequeue_count=int(host_json_queues().get("maxDequeueCount", HOST_MAX_DEQUEUE_COUNT)))


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


# The local `func start` path (Azurite for blobs and queues): what differs from the defaults in local.settings.sample.json.
LOCAL_FUNCTIONS_VALUES = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "BIOAUTH_STORAGE": "azure"}
# Identity-based storage and Application Insights exist only in Azure: an empty value there would be read as set.
AZURE_ONLY = ("AzureWebJobsStorage__", "AZURE_CLIENT_ID", "APPLICATIONINSIGHTS_CONNECTION_STRING")


def sample_local_settings() -> dict:
    """local.settings.sample.json, made from SETTINGS: every setting the service reads locally with its default
    (empty when it has none), set for `func start` against Azurite. `python -m functions.settings` prints it."""
    values = {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsFeatureFlags": "EnableWorkerIndexing"}
    for setting in SETTINGS:
        if not setting.name.startswith(AZURE_ONLY):
            values[setting.name] = LOCAL_FUNCTIONS_VALUES.get(setting.name, setting.default or "")
    return {"IsEncrypted": False, "Values": values}


if __name__ == "__main__":
    print(json.dumps(sample_local_settings(), indent=2))
