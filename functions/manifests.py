"""Model manifests: what a network expects, which thresholds were calibrated and how, what was measured.

A model lives in `<models_dir>/<name>/` as `model.onnx` beside `manifest.json`.
Serving code reads sizes, normalisation and thresholds from the manifest,
never from constants; training writes it. Sessions are in onnx_models.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import ModelNotInstalled

MANIFEST_FILE = "manifest.json"

# The face embedding model the service runs (a folder under the models directory). Face templates
# record "<name>/<version>" of the model that made them; see runtime/subjects.py.
FACE_MODEL = "face_sface"


@dataclass(frozen=True)
class InputSpec:
    """How an image becomes the network's input tensor.

    `mean` and `std` are in 0..255 pixel units per channel, in the model's
    colour order: tensor = (pixel - mean) / std.
    """

    name: str
    height: int
    width: int
    color: str = "RGB"  # "RGB", "BGR" or "GRAY"
    layout: str = "NCHW"
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (255.0, 255.0, 255.0)

    @property
    def channels(self) -> int:
        return 1 if self.color == "GRAY" else 3

    @classmethod
    def from_dict(cls, d: dict) -> "InputSpec":
        return cls(
            name=d["name"],
            height=int(d["height"]),
            width=int(d["width"]),
            color=d.get("color", "RGB"),
            layout=d.get("layout", "NCHW"),
            mean=tuple(float(v) for v in d.get("mean", (0.0,) * 3)),
            std=tuple(float(v) for v in d.get("std", (255.0,) * 3)),
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "height": self.height,
            "width": self.width,
            "color": self.color,
            "layout": self.layout,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def to_tensor(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Batch of images already at (height, width), in the model's colour order, to a float32 tensor."""
        batch = []
        for img in images:
            if img.shape[0] != self.height or img.shape[1] != self.width:
                raise ValueError(f"image is {img.shape[1]}x{img.shape[0]}, model expects {self.width}x{self.height}")
            arr = img.astype(np.float32)
            if arr.ndim == 2:
                arr = arr[:, :, None]
            mean = np.asarray(self.mean[: arr.shape[2]], dtype=np.float32)
            std = np.asarray(self.std[: arr.shape[2]], dtype=np.float32)
            arr = (arr - mean) / std
            batch.append(arr)
        tensor = np.stack(batch)
        if self.layout == "NCHW":
            tensor = tensor.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(tensor, dtype=np.float32)


@dataclass(frozen=True)
class ModelManifest:
    name: str
    version: str
    file: str
    sha256: str
    input: InputSpec
    outputs: tuple[str, ...]
    thresholds: dict[str, float]
    calibration: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelManifest":
        known = {"name", "version", "file", "sha256", "input", "outputs", "thresholds", "calibration", "metrics"}
        return cls(
            name=d["name"],
            version=str(d["version"]),
            file=d.get("file", "model.onnx"),
            sha256=d["sha256"],
            input=InputSpec.from_dict(d["input"]),
            outputs=tuple(d.get("outputs", ())),
            thresholds={k: float(v) for k, v in d.get("thresholds", {}).items()},
            calibration=d.get("calibration", {}),
            metrics=d.get("metrics", {}),
            extra={k: v for k, v in d.items() if k not in known},
        )

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "version": self.version,
            "file": self.file,
            "sha256": self.sha256,
            "input": self.input.to_dict(),
            "outputs": list(self.outputs),
            "thresholds": dict(self.thresholds),
            "calibration": self.calibration,
            "metrics": self.metrics,
        }
        d.update(self.extra)
        return d

    def summary(self) -> dict:
        """What /api/health and step results show of a model."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(model_dir: Path) -> ModelManifest:
    path = Path(model_dir) / MANIFEST_FILE
    if not path.is_file():
        # The message reaches API responses: name the model, never the server's paths.
        raise ModelNotInstalled(f"model {Path(model_dir).name!r} is not installed (no {MANIFEST_FILE} in the models folder)")
    return ModelManifest.from_dict(json.loads(path.read_text()))


def write_manifest(model_dir: Path, manifest: ModelManifest) -> Path:
    path = Path(model_dir) / MANIFEST_FILE
    path.write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=False) + "\n")
    return path


# --- calibrated evidence and the decision policy ----------------------------------------------

# The widest a check's log-likelihood ratio may be (natural log; e**12 is about 160,000 to 1). A model's
# own calibration usually sets a narrower range, from the size of the data it was fitted on.
LLR_LIMIT = 12.0


@dataclass(frozen=True)
class LlrCalibration:
    """A check's score as evidence: the natural-log likelihood ratio of its hypothesis ("same person", "live",
    "same writer") against the alternative, llr = a * x + b, where x is the score (`of` = "score") or the logit of a
    probability score (`of` = "logit"); fitted by logistic regression with equal class weights on the model's own
    calibration data, so it assumes no prior and checks can be added.

    Clamped to [low, high] because a fitted line keeps rising where the calibration data ends: with n
    different-person trials, none of which reached a score, the data cannot support odds beyond about n to 1, so
    the fit stores low = -ln(n_same) and high = ln(n_different). The clamp also keeps one check, however sure its
    model is on its own data, from outvoting the others by an absurd margin; nothing is ever beyond LLR_LIMIT.
    """

    a: float
    b: float
    of: str = "score"  # "score" | "logit"
    low: float = -LLR_LIMIT
    high: float = LLR_LIMIT

    def llr(self, score: float) -> float:
        x = float(score)
        if self.of == "logit":
            p = min(max(x, 1e-9), 1.0 - 1e-9)
            x = float(np.log(p / (1.0 - p)))
        value = self.a * x + self.b
        return float(min(max(value, self.low, -LLR_LIMIT), self.high, LLR_LIMIT))

    @classmethod
    def from_dict(cls, d: dict) -> "LlrCalibration":
        return cls(a=float(d["a"]), b=float(d["b"]), of=str(d.get("of", "score")),
                   low=float(d.get("low", -LLR_LIMIT)), high=float(d.get("high", LLR_LIMIT)))

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "of": self.of, "low": self.low, "high": self.high}


def llr_calibration(manifest: ModelManifest) -> LlrCalibration | None:
    """The model's `calibration.llr`, or None for a model calibrated before scores became evidence."""
    d = manifest.calibration.get("llr") if isinstance(manifest.calibration, dict) else None
    return LlrCalibration.from_dict(d) if d else None


DECISION_POLICY_DIR = "decision"  # under the models folder, beside the models the decision combines
POLICY_FILE = "policy.json"


@dataclass(frozen=True)
class FusedThresholds:
    """Where the summed LLR of face, liveness and signature is cut: >= accept -> accepted, >= review -> review,
    below -> rejected. Chosen by the system evaluation (model_export/system), never by hand."""

    accept: float
    review: float
    version: str

    def to_dict(self) -> dict:
        return {"accept": self.accept, "review": self.review, "version": self.version}


def read_policy(models_dir: Path) -> FusedThresholds:
    """The decision policy manifest (`<models>/decision/policy.json`) written by `model_export system evaluate`."""
    path = Path(models_dir) / DECISION_POLICY_DIR / POLICY_FILE
    if not path.is_file():
        raise ModelNotInstalled(f"the decision policy is not installed (no {DECISION_POLICY_DIR}/{POLICY_FILE} in the models folder)")
    d = json.loads(path.read_text())
    t = d["thresholds"]
    return FusedThresholds(accept=float(t["accept"]), review=float(t["review"]), version=str(d["version"]))
