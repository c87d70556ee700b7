"""What the app does, without the UI: pick frames, predict, measure, render, write files.

`app.py` wires these functions to Gradio; tests and scripts can call them directly.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid

import numpy as np

from predictor.media import read_clip, write_gif, write_mp4
from predictor.metrics import copy_last_baseline, mse_per_frame, ssim_per_frame
from predictor.moving_mnist import generate, load_examples
from predictor.render import frame_strip, metric_figure, side_by_side

MAX_CONTEXT = 50
MAX_HORIZON = 60
MODES = ("free-running", "teacher-forced", "both")
OUT_DIR = os.path.join(tempfile.gettempdir(), "convlstm-demo")
KEEP_SECONDS = 15 * 60  # generated files older than this are deleted, so the folder stays bounded


def upscale(frames: np.ndarray, factor: int = 3) -> np.ndarray:
    """`(T, 64, 64)` -> `(T, 64*factor, 64*factor)`, nearest neighbour, so small frames stay crisp on screen."""
    return np.repeat(np.repeat(frames, factor, axis=1), factor, axis=2)


def examples() -> np.ndarray:
    """Bundled validation sequences `(N, 60, 64, 64) uint8`."""
    return load_examples()[0]


def select_frames(kind: str, example_index: int = 0, random_seed: int = 0, upload: np.ndarray | None = None,
                  context: int = 10, horizon: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(context frames `(C, 64, 64) uint8`, true future frames `(<= horizon, 64, 64) uint8`)."""
    context, horizon = int(context), int(horizon)
    if not 1 <= context <= MAX_CONTEXT:
        raise ValueError(f"Seed frames must be between 1 and {MAX_CONTEXT}. Received: {context}")
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"Horizon must be between 1 and {MAX_HORIZON}. Received: {horizon}")
    if kind == "example":
        ex = examples()
        if not 0 <= int(example_index) < len(ex):
            raise ValueError(f"Example index must be between 0 and {len(ex) - 1}. Received: {example_index}")
        seq = ex[int(example_index)]
    elif kind == "random":
        seq = generate(1, context + horizon, rng=int(random_seed), split="val")[0]
    elif kind == "upload":
        if upload is None:
            raise ValueError("Upload a GIF, MP4 or .npy clip first.")
        seq = upload
    else:
        raise ValueError(f"Input must be 'example', 'random' or 'upload'. Received: {kind!r}")
    if len(seq) <= context and kind != "upload":
        raise ValueError(f"The sequence has {len(seq)} frames; use fewer than {len(seq)} seed frames.")
    if len(seq) < context:
        raise ValueError(f"The clip has {len(seq)} frames but {context} seed frames were asked for.")
    return seq[:context], seq[context : context + horizon]


def load_upload(path: str) -> np.ndarray:
    return read_clip(path)


def _prune(now: float) -> None:
    os.makedirs(OUT_DIR, exist_ok=True)
    for name in os.listdir(OUT_DIR):
        p = os.path.join(OUT_DIR, name)
        try:
            if now - os.path.getmtime(p) > KEEP_SECONDS:
                os.remove(p)
        except OSError:
            pass


def run(predictor, context: np.ndarray, truth: np.ndarray, horizon: int, mode: str = "free-running",
        fps: float = 5.0) -> dict:
    """Predict `horizon` frames after `context` and build every output the app shows.

    Returns paths (panel/truth/prediction GIFs, strip PNG, .npy/.gif/.mp4 downloads), the metric
    figure, a markdown summary and timings in seconds.
    """
    if mode not in MODES:
        raise ValueError(f"Mode must be one of {MODES}. Received: {mode!r}")
    t0 = time.perf_counter()
    free = predictor.predict(context, horizon) if mode != "teacher-forced" else None
    forced = None
    if mode != "free-running":
        if len(truth) < horizon:
            raise ValueError(f"Teacher-forced mode needs ground truth for all {horizon} frames; "
                             f"only {len(truth)} exist. Lower the horizon or use free-running mode.")
        forced = predictor.one_step(np.concatenate([context, truth]))[len(context) - 1 :]
    t_model = time.perf_counter() - t0
    main = free if free is not None else forced

    now = time.time()
    _prune(now)
    stem = os.path.join(OUT_DIR, uuid.uuid4().hex[:12])
    files = {
        "panel": write_gif(side_by_side(context, truth, main), f"{stem}-panel.gif", fps),
        "truth": write_gif(upscale(np.concatenate([context, truth])), f"{stem}-truth.gif", fps),
        "prediction": write_gif(upscale(np.concatenate([context / 255.0, main])), f"{stem}-prediction.gif", fps),
    }
    rows = {"truth": truth, "free-running": free, "teacher-forced": forced}
    from PIL import Image

    strip = frame_strip({k: v for k, v in rows.items() if v is not None and len(v)})
    files["strip"] = f"{stem}-strip.png"
    Image.fromarray(strip).save(files["strip"])
    np.save(f"{stem}-predicted.npy", main.astype(np.float32))
    files["npy"] = f"{stem}-predicted.npy"
    files["gif"] = write_gif(main, f"{stem}-predicted.gif", fps)
    files["mp4"] = write_mp4(main, f"{stem}-predicted.mp4", fps)
    t_files = time.perf_counter() - t0 - t_model

    n = len(truth)
    curves, summary = {}, []
    if n:
        tf = truth.astype(np.float32) / 255.0
        runs = {"free-running": free, "teacher-forced": forced,
                "copy last frame": copy_last_baseline(context.astype(np.float32) / 255.0, n)}
        for name, pred in runs.items():
            if pred is not None:
                curves[name] = {"mse": mse_per_frame(pred[:n], tf), "ssim": ssim_per_frame(pred[:n], tf)}
                summary.append(f"| {name} | {curves[name]['mse'].mean():.1f} | {curves[name]['ssim'].mean():.3f} |")
    figure = metric_figure(curves) if curves else None
    note = "" if n == horizon else f"\n\nGround truth exists for {n} of the {horizon} predicted frames."
    text = ("| prediction | MSE per frame | SSIM |\n|---|---|---|\n" + "\n".join(summary) + note) if summary else \
        "No ground truth for these frames, so no metrics (uploads and long horizons)." + note
    t_total = time.perf_counter() - t0
    return {"files": files, "figure": figure, "summary": text, "prediction": main,
            "timings": {"model": t_model, "files": t_files, "metrics": t_total - t_model - t_files, "total": t_total}}


def model_markdown(predictor) -> str:
    """The model card as markdown: architecture, parameters, training and validation metrics."""
    info = predictor.describe()
    tr, val = info.get("training", {}), info.get("validation", {})
    lines = [f"**{info.get('architecture', 'model')}** · {info.get('parameters', '?'):,} parameters · "
             f"rollout: `{info['kind']}`" if isinstance(info.get("parameters"), int) else f"rollout: `{info['kind']}`",
             f"\nSource: `{info.get('source', '')}`"]
    if tr:
        lines.append(f"\nTrained on {tr.get('data')} digits (training split), {tr.get('sequences_seen', '?'):,} sequences, "
                     f"{tr.get('train_minutes', '?')} min on a 2-core CPU.\n\n`{tr.get('command', '')}`")
    if val:
        rows = [("model (free-running)", val["model"]["mean"]), ("copy last frame", val["copy_last"]["mean"]),
                ("empty frames", val["empty"]["mean"])]
        lines.append(f"\nValidation ({val['sequences']} fresh sequences, {val['context']} → {val['horizon']} frames):\n\n"
                     "| | MSE/frame | SSIM |\n|---|---|---|\n" +
                     "\n".join(f"| {n} | {m['mse']:.1f} | {m['ssim']:.3f} |" for n, m in rows))
    return "\n".join(lines)
