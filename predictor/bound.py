"""The best prediction a generated sequence allows: an exact reader of each digit's context positions.

A generator digit's track is fixed by its start and its direction (`moving_mnist.bounce`), and the context frames
show it at whole-pixel positions. Those leave a small set of starts and directions possible; `possible_tracks`
finds that set by rejection sampling (candidates drawn around the true state, kept where their first positions are
the observed ones: the prior is uniform, so the kept ones sample the posterior), and `best_frames` averages the
frames those tracks draw with the true digits: the best prediction under MSE of any predictor that perceives the
context perfectly (which digit is where, what it looks like). It needs the hidden state, so it exists for generated
sequences only (`moving_mnist.draws`). `python -m tools.bound` measures it; the app draws it beside the model.

    from predictor.bound import best_frames
    from predictor.moving_mnist import draws
    digits, start, vel = draws(1, rng=7, split="val")
    best = best_frames(digits[0], start[0], vel[0], context=10, horizon=20)   # (20, 64, 64) float32 in [0, 1]
"""

from __future__ import annotations

import numpy as np

from predictor.moving_mnist import CANVAS, DIGIT, bounce, draw, move

SPREAD = 0.1  # rad: the first window of directions candidates are drawn in, around the true direction
CANDIDATES = 50_000  # per draw; doubled while too few are kept (at most 8x)
MAX_KEPT = 4096  # possible tracks carried into the future (few contexts keep many): bounds a request's memory


def possible_tracks(start: np.ndarray, vel: np.ndarray, observed: np.ndarray, horizon: int,
                    rng: np.random.Generator, candidates: int = CANDIDATES) -> np.ndarray:
    """Tracks `(K, C + horizon, 2) int` of the starts and directions whose first C positions are `observed (C, 2)`.

    start `(2,)` px and vel `(2,)` px/frame: the true state. Candidate starts are drawn uniformly in the first
    observed pixel (a track is drawn at its start's whole pixel: that pixel holds exactly the starts the first frame
    allows) and directions around the true one, so the K kept sample the posterior (at most MAX_KEPT of them). The
    window of directions widens until none of the kept lies near its edge (up to exactly the whole circle).
    A posterior that even 8x the candidates miss is taken to be the true track alone (K = 1).
    """
    theta = np.arctan2(vel[0], vel[1])
    speed = float(np.hypot(*vel))
    rad = SPREAD
    limit = 8 * candidates  # time and memory: at most 400,000 candidates by default
    top = CANVAS - DIGIT
    first = observed[0].astype(np.float64)
    for _ in range(8):
        # drawn at 36 (the canvas' last start) is exactly 36; any other pixel p holds the starts in [p, p + 1)
        pos = np.where(first == top, float(top), first + rng.uniform(0, 1, (candidates, 2)))
        angle = theta + rng.uniform(-rad, rad, candidates)
        velocity = speed * np.stack([np.sin(angle), np.cos(angle)], -1)
        kept = consistent(pos, velocity, observed)  # the future only for these
        near_angle = kept.any() and rad < np.pi and np.abs(angle[kept] - theta).max() > 0.9 * rad
        enough = kept.sum() >= 20 or (candidates >= limit and kept.any())  # a rare state may keep few
        if enough and not near_angle:
            pos, velocity = pos[kept][:MAX_KEPT], velocity[kept][:MAX_KEPT]  # drawn independently: any subset
            return bounce(pos, velocity, len(observed) + horizon)
        if near_angle:  # widen what is cut off, up to the whole circle exactly
            rad = min(np.pi, 2 * rad)
        elif candidates < limit:
            candidates *= 2
        else:
            break
    # Too narrow to sample: e.g. a path made by hand from a whole pixel straight along an axis, which a long context
    # pins down to a sliver of starts and directions. The true state is in that sliver; it stands for all of it.
    return bounce(np.asarray(start, np.float64)[None], np.asarray(vel, np.float64)[None], len(observed) + horizon)


def consistent(pos: np.ndarray, vel: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """`(N,) bool`: which of the N states (`pos`, `vel` `(N, 2)`) draw the whole-pixel positions `observed (C, 2)`
    first (as `bounce` would); each state is followed only while it agrees, so memory stays `O(N)`."""
    kept = np.zeros(len(pos), bool)
    alive = np.arange(len(pos))
    for where in observed:
        agree = (pos.astype(np.int64) == where).all(-1)
        alive, pos, vel = alive[agree], pos[agree], vel[agree]
        pos, vel = move(pos, vel)
    kept[alive] = True
    return kept


def best_prediction(digits: np.ndarray, possible: list[np.ndarray], context: int, rng: np.random.Generator,
                    samples: int = 48) -> np.ndarray:
    """The posterior mean frames `(H, 64, 64) float64 in [0, 1]`: `samples` draws of every digit's possible track
    (`possible_tracks`, digits independent), drawn with the true `digits (D, 28, 28) uint8` and averaged."""
    picks = [p[rng.integers(0, len(p), samples), context:] for p in possible]  # D x (samples, H, 2)
    return np.mean([draw(digits, np.stack([p[s] for p in picks])) for s in range(samples)], axis=0) / 255.0


def best_frames(digits: np.ndarray, start: np.ndarray, vel: np.ndarray, context: int, horizon: int,
                seed: int = 0, candidates: int = CANDIDATES, samples: int = 48) -> np.ndarray:
    """The best prediction `(horizon, 64, 64) float32 in [0, 1]` of the sequence drawn by `digits (D, 28, 28)
    uint8` from `start (D, 2)` px with velocities `vel (D, 2)` px/frame, after its first `context` frames.
    Reproducible from `seed`; about 0.01-0.1 s on one core."""
    rng = np.random.default_rng(seed)
    observed = bounce(start, vel, context)  # (D, C, 2)
    possible = [possible_tracks(s, v, o, horizon, rng, candidates) for s, v, o in zip(start, vel, observed)]
    return best_prediction(digits, possible, context, rng, samples).astype(np.float32)


def position_right(possible: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """`(H,) bool`: whether the most likely position among `possible (K, H, 2)` is the true one `(H, 2)` per step."""
    right = []
    for k in range(len(truth)):
        where, count = np.unique(possible[:, k], axis=0, return_counts=True)
        right.append((where[count.argmax()] == truth[k]).all())
    return np.array(right)
