"""Latency of the anti-spoofing step on this machine, beside the reference implementation of its networks.

`python benchmarks/antispoof.py [--photos N] [--threads N] [--reference UPSTREAM_CHECKOUT]`

Times, per face, what the service does after detection: the members' crops
from the photo (face-crop step) and `check_liveness` (tensors, onnxruntime,
fusion, zones; anti-spoofing step), on the project's sample photos with small
shifts of the face box (NUAA dev photos when ../shared/data/nuaa is present).
With `--reference` (a checkout of the upstream MiniFASNet repository) the same
crops also go through its PyTorch forward pass, in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def faces(n: int, nuaa: Path) -> list[tuple[np.ndarray, tuple]]:
    """(photo, face box) pairs: NUAA dev photos when present, otherwise the sample photos with shifted boxes."""
    from functions.biometrics.face_detection import detect_faces

    if nuaa.is_dir():
        import cv2

        files = sorted(nuaa.glob("dev/*/*/*.jpg"))[:: 7][:n]
        photos = [np.ascontiguousarray(cv2.imread(str(f))[:, :, ::-1]) for f in files]
    else:
        from tests.fixtures.photos import astronaut, grace_hopper

        photos = [astronaut(), grace_hopper()]
    found = [(p, detect_faces(p)[0].box) for p in photos if detect_faces(p)]
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        p, (x, y, w, h) = found[i % len(found)]
        dx, dy = rng.uniform(-0.03, 0.03, 2) * w
        out.append((p, (x + dx, y + dy, w, h)))
    return out


def time_calls(fn, items, warmup: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and CPU milliseconds per call (the process's CPU time: with one thread it is what an idle core would take)."""
    for it in items[:warmup]:
        fn(it)
    wall, cpu = [], []
    for it in items:
        t0, c0 = time.perf_counter(), time.process_time()
        fn(it)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return np.asarray(wall), np.asarray(cpu)


def line(name: str, timed: tuple[np.ndarray, np.ndarray]) -> str:
    wall, cpu = timed
    return (f"  {name:<36} wall median {np.median(wall):6.2f} ms, p95 {np.percentile(wall, 95):6.2f} ms; "
            f"CPU median {np.median(cpu):6.2f} ms")


def reference_forward(reference: Path, weights: Path):
    """The upstream networks in PyTorch, fed the same crops as our graph (BGR, 0..255)."""
    import torch

    sys.path.insert(0, str(reference))
    from src.model_lib import MiniFASNet as upstream

    nets = []
    for cls, f in (("MiniFASNetV2", "2.7_80x80_MiniFASNetV2.pth"), ("MiniFASNetV1SE", "4_0_0_80x80_MiniFASNetV1SE.pth")):
        net = getattr(upstream, cls)(conv6_kernel=(5, 5))
        state = torch.load(str(weights / f), map_location="cpu", weights_only=False)
        net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
        nets.append(net.eval())

    def run(crops: list[np.ndarray]) -> float:
        with torch.no_grad():
            probs = [torch.softmax(net(torch.from_numpy(np.ascontiguousarray(c[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32))), 1)
                     for net, c in zip(nets, crops)]
        return float(sum(p[0, 1] for p in probs) / len(probs))

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "nuaa")
    parser.add_argument("--weights", type=Path, default=REPO.parent / "shared" / "data" / "minifasnet")
    parser.add_argument("--reference", type=Path, help="checkout of the upstream MiniFASNet repository")
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (and torch threads)")
    args = parser.parse_args()

    from functions.biometrics.liveness import member_crops
    from functions.onnx_models import OnnxModel
    from functions.settings import get_settings
    from functions.biometrics.liveness import check_liveness

    model_dir = get_settings().models_dir / "antispoof"
    model = OnnxModel(model_dir, intra_op_threads=args.threads)
    items = faces(args.photos, args.data)
    crops = [member_crops(p, b, model.manifest) for p, b in items]
    t_crop = time_calls(lambda it: member_crops(it[0], it[1], model.manifest), items)
    t_step = time_calls(lambda c: check_liveness(c, model), crops)
    size = (model_dir / model.manifest.file).stat().st_size / 1e6
    print(f"cpu cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, faces: {len(items)} "
          f"({'NUAA dev' if args.data.is_dir() else 'sample photos'}), onnxruntime threads: {args.threads}")
    print(f"antispoof {model.version}, model {size:.2f} MB")
    print(line("member crops (face-crop step)", t_crop))
    print(line("check_liveness (step)", t_step))
    print(line("both, per face", (t_crop[0] + t_step[0], t_crop[1] + t_step[1])))
    if args.reference:
        import torch

        torch.set_num_threads(args.threads)
        run = reference_forward(args.reference, args.weights)
        names = [f"antispoof_{m['name']}" for m in model.manifest.extra["members"]]
        print(line("reference PyTorch forward (2 nets)", time_calls(lambda c: run([c[n] for n in names]), crops)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
