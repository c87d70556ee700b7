"""The app's inputs: parsing the values a page or API client sends, and choosing the frames to predict from.

One parser for every number the app receives, `ui_int`. It is deliberately more lenient than the Python API's
`predictor.predictor.check_horizon`: a Gradio page sends numbers as floats (a slider's 10 arrives as 10.0) and an
API client or a shared link may send text ("10"), so the app accepts any whole number written either way; the
Python API takes `int`s only, because a caller who passes "10" there has a bug worth hearing about. The app's limits
are its own policy, tighter than the library's (`MAX_HORIZON` 60 here, `predictor.predictor.MAX_HORIZON` 1000
there): a page shows 60 frames ahead well, and a public server should not roll out 1000 frames per click.
After parsing, every value handed to the predictor is an `int` the library's checks accept.
"""

from __future__ import annotations

import functools

import numpy as np

from demo.files import FPS, new_stem
from predictor import media, render
from predictor.moving_mnist import generate, load_examples

MAX_CONTEXT = 50  # context frames (the true frames the model sees first) a request may ask for
MAX_HORIZON = 60  # frames a request may ask to predict: the app's limit (see the module docstring)
MAX_RANDOM_SEED = 2**32 - 1  # numpy's seeds
MODES = ("free-running", "teacher-forced", "both")
KINDS = ("example", "random", "upload", "compose")


def ui_int(value, name: str, lo: int, hi: int) -> int:
    """`value` as an `int` in [lo, hi]: an int, a float with no fraction (10.0: what Gradio's sliders and number
    boxes send) or a string of a whole number ("10": what an API client or a query string may send).

    Raises ValueError naming the control (`name`, as the page labels it) and the value received for anything else:
    fractions, booleans, None, text that is not a whole number, values out of range.
    """
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number. Received: {value!r}")
    try:
        v = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a whole number. Received: {value!r}") from None
    if (not isinstance(value, str) and v != value) or not lo <= v <= hi:
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}. Received: {value!r}")
    return v


def parse_context(value) -> int:
    """The number of context frames a request asked for, 1..MAX_CONTEXT (see `ui_int`)."""
    return ui_int(value, "Context frames", 1, MAX_CONTEXT)


def parse_horizon(value) -> int:
    """The number of frames a request asked to predict, 1..MAX_HORIZON (see `ui_int`): the app's one horizon check."""
    return ui_int(value, "Frames to predict", 1, MAX_HORIZON)


def parse_example_index(value) -> int:
    """A bundled example's index, 0..len(examples()) - 1 (see `ui_int`)."""
    return ui_int(value, "Example index", 0, len(examples()) - 1)


def parse_random_seed(value) -> int:
    """The random seed that makes a "random" input, 0..2**32 - 1 (see `ui_int`)."""
    return ui_int(value, "Random seed", 0, MAX_RANDOM_SEED)


@functools.lru_cache(maxsize=1)
def examples() -> np.ndarray:
    """Bundled validation sequences `(N, 60, 64, 64) uint8` (read once, read-only)."""
    ex = load_examples()[0]
    ex.flags.writeable = False
    return ex


def thumbnails(frame: int = 9) -> list[np.ndarray]:
    """One `(128, 128) uint8` still per bundled example (frame `frame`, the last of the default 10 context frames)."""
    return [np.repeat(np.repeat(s[frame], 2, 0), 2, 1) for s in examples()]


def select_frames(kind: str, example_index=0, random_seed=0, upload: np.ndarray | None = None, context=10,
                  horizon=10) -> tuple[np.ndarray, np.ndarray]:
    """(context frames `(C, 64, 64) uint8`, true future frames `(<= horizon, 64, 64) uint8`).

    kind "example": bundled validation example `example_index`; "random": a fresh sequence from validation
    digits made from `random_seed` (always long enough); "upload": the frames `upload`, whose ground truth
    may be shorter than the horizon (then the app says so); "compose": the frames made in 'Make your own'
    (`upload` too). Out-of-range values raise ValueError.
    """
    context, horizon = parse_context(context), parse_horizon(horizon)
    if kind == "example":
        seq = examples()[parse_example_index(example_index)]
    elif kind == "random":
        seq = generate(1, context + horizon, rng=parse_random_seed(random_seed), split="val")[0]
    elif kind in ("upload", "compose"):  # frames the visitor brought or made (`upload`)
        if upload is None:
            raise ValueError("Upload a GIF, MP4 or .npy clip first." if kind == "upload" else
                             "Make a sequence first: draw or pick digits in 'Make your own', then press its button.")
        seq = upload
    else:
        raise ValueError(f"Input must be one of {', '.join(KINDS)}. Received: {kind!r}")
    own = kind in ("upload", "compose")  # may end without ground truth; generated ones never do
    if len(seq) < context + (not own):
        what = {"upload": "clip", "compose": "sequence you made"}.get(kind, "example")
        raise ValueError(f"The {what} has {len(seq)} frames, so at most {len(seq) - (not own)} can be "
                         f"context frames; lower 'Context frames'. Received: {context} context frames")
    return seq[:context], seq[context : context + horizon]


def check_mode(mode: str, horizon, n: int) -> tuple[int, int]:
    """(horizon, n) once `mode` is known and, for teacher-forced mode, the `n` true frames cover the horizon."""
    if mode not in MODES:
        raise ValueError(f"Mode must be one of {', '.join(MODES)}. Received: {mode!r}")
    horizon = parse_horizon(horizon)
    if mode == "teacher-forced" and n < horizon:
        raise ValueError(
            f"Teacher-forced mode predicts each frame from the true frame before it, so it needs ground truth for "
            f"all {horizon} frames; this input has {n} after the context frames. Lower 'Frames to predict' to {n} or "
            "less, or choose free-running or both." if n else
            "Teacher-forced mode needs ground truth after the context frames, and this input has none. "
            "Use fewer context frames or free-running mode.")
    return horizon, n


def preview_upload(frames: np.ndarray) -> str:
    """Path of a GIF of a converted clip `(T, 64, 64) uint8`, upscaled like the app's other views."""
    frames = np.repeat(np.repeat(frames, render.SCALE, 1), render.SCALE, 2)
    return media.write_gif(frames, new_stem() + "-upload.gif", FPS)
