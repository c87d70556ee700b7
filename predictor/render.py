"""Pictures for people: the labelled truth | prediction | error panel, frame strips and metric plots.

Frames are `(T, 64, 64)` uint8 or float in [0, 1]; panels are RGB uint8, upscaled `SCALE`x (nearest).
Context frames get a blue border and "context" label, predicted frames an orange one, so the moment the
model starts imagining is visible at a glance.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from predictor.media import as_uint8

SCALE = 3
BORDER = 4
HEADER = 26
CONTEXT_RGB = (70, 140, 255)
PREDICTED_RGB = (255, 150, 40)
MISSING_RGB = (60, 60, 60)


def _font():
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", 13)
    except OSError:
        return ImageFont.load_default()


def _heat(err: np.ndarray) -> np.ndarray:
    """`(64, 64)` absolute error in [0, 1] -> RGB uint8 (black -> red -> yellow)."""
    e = np.clip(err, 0, 1)
    return (np.stack([np.clip(2 * e, 0, 1), np.clip(2 * e - 1, 0, 1), np.zeros_like(e)], -1) * 255).astype(np.uint8)


def _tile(img: np.ndarray, colour) -> np.ndarray:
    """`(64, 64)` grey or `(64, 64, 3)` RGB -> upscaled RGB tile inside a `colour` border."""
    rgb = np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img
    rgb = np.repeat(np.repeat(rgb, SCALE, 0), SCALE, 1)
    out = np.empty((rgb.shape[0] + 2 * BORDER, rgb.shape[1] + 2 * BORDER, 3), np.uint8)
    out[:] = colour
    out[BORDER:-BORDER, BORDER:-BORDER] = rgb
    return out


def side_by_side(context, truth, pred) -> np.ndarray:
    """Panel frames `(C + H, h, w, 3) uint8`: truth | prediction | |error|, labelled, with a frame counter.

    context `(C, 64, 64)`, truth `(<= H, 64, 64)` (may be shorter than the prediction: the missing frames
    say "no ground truth"), pred `(H, 64, 64)`.
    """
    context, truth, pred = as_uint8(context), as_uint8(truth), as_uint8(pred)
    c, h = len(context), len(pred)
    font, out = _font(), []
    blank = np.full((64, 64), 40, np.uint8)
    for i in range(c + h):
        is_ctx = i < c
        colour = CONTEXT_RGB if is_ctx else PREDICTED_RGB
        k = i - c
        true_f = context[i] if is_ctx else (truth[k] if k < len(truth) else None)
        pred_f = context[i] if is_ctx else pred[k]
        if true_f is None:
            err_tile = _tile(blank, MISSING_RGB)
            true_tile = _tile(blank, MISSING_RGB)
        else:
            err_tile = _tile(_heat(np.abs(pred_f.astype(np.float32) - true_f.astype(np.float32)) / 255.0), colour)
            true_tile = _tile(true_f, colour)
        row = np.concatenate([true_tile, np.zeros((true_tile.shape[0], 6, 3), np.uint8), _tile(pred_f, colour),
                              np.zeros((true_tile.shape[0], 6, 3), np.uint8), err_tile], 1)
        canvas = Image.new("RGB", (row.shape[1], row.shape[0] + 2 * HEADER), (16, 16, 16))
        canvas.paste(Image.fromarray(row), (0, HEADER))
        d = ImageDraw.Draw(canvas)
        tw = true_tile.shape[1] + 6
        for j, label in enumerate(("truth", "prediction", "|error|")):
            d.text((j * tw + 6, 6), label, fill=(230, 230, 230), font=font)
        status = f"context {i + 1}/{c}" if is_ctx else f"predicted +{k + 1}/{h}"
        d.text((6, row.shape[0] + HEADER + 6), f"frame {i + 1}/{c + h}  ·  {status}", fill=colour, font=font)
        if true_f is None:
            d.text((10, HEADER + row.shape[0] // 2 - 8), "no ground truth", fill=(200, 200, 200), font=font)
        out.append(np.asarray(canvas))
    return np.stack(out)


def frame_strip(rows: dict[str, np.ndarray], max_cols: int = 20) -> np.ndarray:
    """Grid image: one labelled row per entry of `rows` (name -> `(T, 64, 64)`), RGB uint8."""
    font, label_w, pad = _font(), 110, 2
    cols = min(max_cols, max(len(v) for v in rows.values()))
    cell = 64 + pad
    img = Image.new("RGB", (label_w + cols * cell, len(rows) * cell), (16, 16, 16))
    d = ImageDraw.Draw(img)
    for r, (name, frames) in enumerate(rows.items()):
        d.text((6, r * cell + 24), name, fill=(230, 230, 230), font=font)
        for c, f in enumerate(as_uint8(frames)[:cols]):
            img.paste(Image.fromarray(f).convert("RGB"), (label_w + c * cell, r * cell))
    return np.asarray(img)


def metric_figure(curves: dict[str, dict[str, np.ndarray]]):
    """Matplotlib figure of per-step MSE and SSIM; `curves` is run name -> {"mse": (H,), "ssim": (H,)}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for name, c in curves.items():
        steps = np.arange(1, len(c["mse"]) + 1)
        style = "--" if "copy" in name else "-"
        axes[0].plot(steps, c["mse"], style, marker="o", ms=3, label=name)
        axes[1].plot(steps, c["ssim"], style, marker="o", ms=3, label=name)
    axes[0].set(title="MSE per frame (lower is better)", xlabel="frames ahead")
    axes[1].set(title="SSIM (higher is better)", xlabel="frames ahead", ylim=(0, 1))
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
