"""Evaluate a predictor on sequences: free-running and teacher-forced metrics beside the baselines.

    from predictor.evaluation import evaluate
    report = evaluate(load_predictor(), seqs, context=10, horizon=10)   # seqs (N, T, 64, 64) uint8

All numbers follow `predictor.metrics` (OpenSTL conventions on frames in [0, 1]).
"""

from __future__ import annotations

import numpy as np

from predictor.metrics import METRICS, copy_last_baseline


def _curves(preds, truths) -> dict[str, np.ndarray]:
    """Mean per-step curves over sequences: preds/truths `(N, H, 64, 64)` in [0, 1] -> name -> `(H,)`."""
    return {name: np.mean([fn(p, t) for p, t in zip(preds, truths)], axis=0) for name, fn in METRICS.items()}


def evaluate(predictor, seqs: np.ndarray, context: int = 10, horizon: int = 10, batch_size: int = 16,
             teacher_forced: bool = True, headline: int = 10) -> dict:
    """Metrics of `predictor` on `seqs (N, >= context + horizon, 64, 64) uint8`.

    Returns {"model": ..., "teacher_forced": ..., "copy_last": ..., "empty": ..., "windows": see `windows`,
    "headline": h}, each run {"mean": {metric: float} over frames 1..h ahead, "per_step": {metric: [horizon
    floats]}} with h = min(headline, horizon): one run to 60 frames still gives the standard 10 -> 10 figures.
    """
    if seqs.ndim != 4 or seqs.shape[1] < context + horizon:
        raise ValueError(f"Expected sequences (N, >= {context + horizon}, 64, 64). Received: shape={seqs.shape}")
    seqs = seqs[:, : context + horizon]
    truth = seqs[:, context:].astype(np.float32) / 255.0
    preds = np.concatenate(
        [predictor.predict_batch(seqs[i : i + batch_size, :context], horizon) for i in range(0, len(seqs), batch_size)]
    )
    runs = {"model": preds}
    if teacher_forced:
        # one_step on the true sequence: predictions of frames 1..T-1; keep those of the future frames.
        runs["teacher_forced"] = np.stack([predictor.one_step(s)[context - 1 :] for s in seqs])
    runs["copy_last"] = np.stack([copy_last_baseline(s[:context].astype(np.float32) / 255.0, horizon) for s in seqs])
    runs["empty"] = np.zeros_like(truth)
    report, h = {}, min(headline, horizon)
    for name, pred in runs.items():
        curves = _curves(pred, truth)
        report[name] = {
            "mean": {k: float(v[:h].mean()) for k, v in curves.items()},
            "per_step": {k: [float(x) for x in v] for k, v in curves.items()},
        }
    report["windows"], report["headline"] = windows(report), h
    return report


WINDOWS = ((1, 10), (11, 20), (21, 30), (31, 60))


def windows(report: dict) -> dict:
    """Means over windows of frames ahead that the horizon covers, e.g. "21-30": {"model_mse", "model_ssim",
    "empty_mse", "late_ratio"}; late_ratio = model MSE / empty-frame MSE there (1 = the digits are gone)."""
    out = {}
    steps = len(report["model"]["per_step"]["mse"])
    for lo, hi in WINDOWS:
        if steps < hi:
            continue
        mean = lambda run, k: float(np.mean(report[run]["per_step"][k][lo - 1 : hi]))  # noqa: E731
        out[f"{lo}-{hi}"] = {"model_mse": mean("model", "mse"), "model_ssim": mean("model", "ssim"),
                             "empty_mse": mean("empty", "mse"),
                             "late_ratio": mean("model", "mse") / max(mean("empty", "mse"), 1e-9)}
    return out
