"""What travels on the step queues: ids and Blob references, never images (64 KiB limit)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class StepMessage:
    verification_id: str
    subject_id: str
    images: dict[str, str] = field(default_factory=dict)  # "face"/"signature" -> "container/name"
    trace: dict[str, str] = field(default_factory=dict)  # W3C trace context (traceparent), so every hop joins one trace
    request_id: str = ""  # the device request's X-Request-Id, so every step's log lines name it

    def to_json(self) -> str:
        data = asdict(self)
        for optional in ("trace", "request_id"):
            if not data[optional]:
                del data[optional]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "StepMessage":
        d = json.loads(text)
        if not isinstance(d, dict) or not isinstance(d.get("verification_id"), str):
            raise ValueError("step message without verification_id")
        trace = d.get("trace") if isinstance(d.get("trace"), dict) else {}
        return cls(verification_id=d["verification_id"], subject_id=d.get("subject_id", ""), images=dict(d.get("images", {})),
                   trace={str(k): str(v) for k, v in trace.items()}, request_id=str(d.get("request_id") or ""))
