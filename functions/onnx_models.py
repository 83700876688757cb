"""ONNX models as the biometric core runs them: a verified file and its manifest, one session per process."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ModelNotInstalled
from .manifests import MANIFEST_FILE, read_manifest, sha256_file
from .settings import get_settings


def available_providers() -> list[str]:
    """CUDA where onnxruntime-gpu finds a GPU, the CPU otherwise."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have]


class OnnxModel:
    """One ONNX Runtime session and the manifest that describes it."""

    def __init__(self, model_dir: Path, *, verify_sha256: bool = True, intra_op_threads: int | None = None):
        import onnxruntime as ort

        self.dir = Path(model_dir)
        self.manifest = read_manifest(self.dir)
        path = self.dir / self.manifest.file
        if not path.is_file():
            raise ModelNotInstalled(f"model {self.manifest.name!r}: {self.manifest.file} is missing from the models folder")
        if verify_sha256:
            actual = sha256_file(path)
            if actual != self.manifest.sha256:
                raise ModelNotInstalled(
                    f"model {self.manifest.name!r}: sha256 of {path.name} is {actual}, manifest says {self.manifest.sha256}",
                    code="model_checksum_mismatch",
                )
        options = ort.SessionOptions()
        # Idle pool threads must not spin after a run: on a 2-core worker the next step's numpy work and
        # the other requests' sessions need those cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Errors only: a published graph that lists its weights among its inputs (SFace) would log one
        # warning per weight at every session start.
        options.log_severity_level = 3
        if intra_op_threads:
            options.intra_op_num_threads = intra_op_threads
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=available_providers())
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    @property
    def version(self) -> str:
        return self.manifest.version

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Run a prepared batch; returns every output in manifest/graph order."""
        return self.session.run(self.output_names, {self.input_name: tensor})

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run a graph with several named inputs (an ensemble reading one crop per member)."""
        return self.session.run(self.output_names, feeds)

    def run_images(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self.run(self.manifest.input.to_tensor(images))


_models: dict[Path, OnnxModel] = {}
_resolved: dict[tuple[str, str], Path] = {}  # the folder as given -> its real path (resolving costs a syscall per part)
_lock = threading.Lock()


def load_model(name: str, models_dir: Path | None = None) -> OnnxModel:
    """The process-wide session for a model, created on first use.

    Raises ModelNotInstalled when the folder or its manifest is missing.
    """
    settings = get_settings()
    if models_dir is None:
        models_dir = settings.models_dir
    given = (str(models_dir), name)
    key = _resolved.get(given)
    if key is None:
        key = _resolved.setdefault(given, (Path(models_dir) / name).resolve())
    with _lock:
        model = _models.get(key)
        if model is None:
            model = OnnxModel(key, intra_op_threads=settings.onnx_intra_op_threads or None)
            _models[key] = model
        return model


def installed_models(models_dir: Path) -> list[dict]:
    """Manifests found in the models folder, for /api/health (sessions are not created here)."""
    found = []
    for d in sorted(Path(models_dir).iterdir()) if Path(models_dir).is_dir() else []:
        path = d / MANIFEST_FILE
        if not path.is_file():
            continue
        raw = json.loads(path.read_text())
        if "input" in raw:
            found.append(read_manifest(d).summary())
        else:  # limits without a network (capture quality): the manifest itself is what is served
            found.append({"name": raw.get("name", d.name), "version": str(raw.get("version", "")), "sha256": sha256_file(path)})
    return found
