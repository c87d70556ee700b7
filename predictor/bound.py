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

from predictor.moving_mnist import CANVAS, DIGIT, RULE_OFFSET, bounce, draw

SPREAD = 0.1  # rad: the first window of directions candidates are drawn in, around the true direction
CANDIDATES = 50_000  # per draw; doubled while too few are kept (at most 8x)
MAX_KEPT = 4096  # possible tracks carried into the future (few contexts keep many): bounds a request's memory


def possible_tracks(start: np.ndarray, vel: np.ndarray, observed: np.ndarray, horizon: int,
                    rng: np.random.Generator, candidates: int = CANDIDATES, pixel_rule: str = "truncate") -> np.ndarray:
    """Tracks `(K, C + horizon, 2) int` of the starts and directions whose first C positions are `observed (C, 2)`.

    start `(2,)` px and vel `(2,)` px/frame: the true state. Candidate starts are drawn uniformly in the first
    observed pixel (a track is drawn at its start's whole pixel: that pixel holds exactly the starts the first frame
    allows) and directions around the true one, so the K kept sample the posterior (at most MAX_KEPT of them). The
    window of directions widens until none of the kept lies near its edge (up to exactly the whole circle).
    A posterior that even 8x the candidates miss is taken to be the true track alone (K = 1). `pixel_rule`: the rule
    that drew `observed` (`moving_mnist.PIXEL_RULES`), known to this reader as the true state is.
    """
    theta = np.arctan2(vel[0], vel[1])
    speed = float(np.hypot(*vel))
    rad = SPREAD
    limit = 8 * candidates  # time and memory: at most 400,000 candidates by default
    top = CANVAS - DIGIT
    first = observed[0].astype(np.float64)
    off = RULE_OFFSET[pixel_rule]
    lo, hi = np.maximum(first - off, 0.0), np.minimum(first + 1 - off, float(top))  # the starts the pixel holds
    for _ in range(8):
        # truncated, 36 (the canvas' last start) holds exactly 36; rounded, 0 holds [0, 0.5) and 36 [35.5, 36]
        pos = lo + rng.uniform(0, 1, (candidates, 2)) * (hi - lo)
        angle = theta + rng.uniform(-rad, rad, candidates)
        kept = _consistent_angles(pos, angle, speed, observed, off)  # indices; the future only for these
        near_angle = len(kept) and rad < np.pi and np.abs(angle[kept] - theta).max() > 0.9 * rad
        enough = len(kept) >= 20 or (candidates >= limit and len(kept))  # a rare state may keep few
        if enough and not near_angle:
            kept = kept[:MAX_KEPT]  # drawn independently: any subset
            a = angle[kept]
            return bounce(pos[kept], speed * np.stack([np.sin(a), np.cos(a)], -1), len(observed) + horizon,
                          pixel_rule)
        if near_angle:  # widen what is cut off, up to the whole circle exactly
            rad = min(np.pi, 2 * rad)
        elif candidates < limit:
            candidates *= 2
        else:
            break
    # Too narrow to sample: e.g. a path made by hand from a whole pixel straight along an axis, which a long context
    # pins down to a sliver of starts and directions. The true state is in that sliver; it stands for all of it.
    return bounce(np.asarray(start, np.float64)[None], np.asarray(vel, np.float64)[None], len(observed) + horizon,
                  pixel_rule)


def _consistent_angles(pos: np.ndarray, angle: np.ndarray, speed: float, observed: np.ndarray,
                       off: float = 0.0) -> np.ndarray:
    """Increasing indices of the N candidates (starts `pos (N, 2)`, directions `angle (N,)` rad at `speed`) that draw
    `observed (C, 2)` first: `consistent` with velocities `speed * (sin, cos)`, as cheaply as it can be.

    `move` treats y and x separately, so a candidate agrees when its y track and its x track both do: y is
    followed first, then x for the few left, whose cos is all that is computed (elementwise: the same values)."""
    ys = follow_axis(np.ascontiguousarray(pos[:, 0]), speed * np.sin(angle), observed[:, 0], off)
    a = angle[ys]
    return ys[follow_axis(pos[ys, 1], speed * np.cos(a), observed[:, 1], off)]


def follow_axis(p: np.ndarray, v: np.ndarray, observed: np.ndarray, off: float = 0.0) -> np.ndarray:
    """Increasing indices of the 1-D tracks (positions `p (N,)` float px >= 0, velocities `v (N,)`) whose whole
    pixels `floor(p + off)` (`RULE_OFFSET`) are `observed (C,)`, each followed only while it agrees: `move` along
    one axis (also `predictor.rigid`'s reader)."""
    top = CANVAS - DIGIT
    alive = np.arange(len(p))
    for t, where in enumerate(observed):
        if t:  # move, as `move` does it (clip as maximum/minimum: the same numbers, a cheaper call)
            p = p + v
            flip = (p < 0) | (p > top)
            p = np.minimum(np.maximum(p, 0.0), float(top))
            v = np.where(flip, -v, v)
        # `astype(int) == where`: positions are >= 0, so truncating is flooring, and floor(p) == w is w <= p < w + 1
        agree = (p + off >= where) & (p + off < where + 1)  # rounded: floor(p + 0.5) == where
        if not agree.all():
            keep = np.flatnonzero(agree)
            alive, p, v = alive[keep], p[keep], v[keep]
            if not len(alive):
                break
    return alive


def consistent(pos: np.ndarray, vel: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """`(N,) bool`: which of the N states (`pos` >= 0, `vel` `(N, 2)`) draw the whole-pixel positions `observed
    (C, 2)` first (as `bounce` would); each state is followed only while it agrees, so memory stays `O(N)`."""
    kept = np.zeros(len(pos), bool)
    ys = follow_axis(np.ascontiguousarray(pos[:, 0]), np.ascontiguousarray(vel[:, 0]), observed[:, 0])
    kept[ys[follow_axis(pos[ys, 1], vel[ys, 1], observed[:, 1])]] = True
    return kept


def best_prediction(digits: np.ndarray, possible: list[np.ndarray], context: int, rng: np.random.Generator,
                    samples: int = 48) -> np.ndarray:
    """The posterior mean frames `(H, 64, 64) float64 in [0, 1]`: `samples` draws of every digit's possible track
    (`possible_tracks`, digits independent), drawn with the true `digits (D, 28, 28) uint8` and averaged.

    Draws that put every digit at the same places at a step share one picture: each distinct picture is drawn once
    and weighted by how many draws made it (a sum of whole numbers, so exactly the mean of all the draws)."""
    picks = [p[rng.integers(0, len(p), samples), context:] for p in possible]  # D x (samples, H, 2)
    at = np.stack(picks, 1)  # (samples, D, H, 2)
    s, d, h = at.shape[:3]
    radix = int(at.max(initial=0)) + 1
    if at.size == 0 or at.min() < 0 or float(radix) ** (2 * d) * h >= 2.0**62:  # no exact key: every draw as it is
        return np.mean([draw(digits, at[i]) for i in range(s)], axis=0) / 255.0
    # one integer per (step, every digit's position): step first, so np.unique sorts the keys step by step
    key = np.zeros((h, s), np.int64)
    for j in range(d):
        for c in range(2):
            key = key * radix + at[:, j, :, c].T
    key += np.arange(h, dtype=np.int64)[:, None] * radix ** (2 * d)
    unique, counts = np.unique(key, return_counts=True)
    step, rest = np.divmod(unique, radix ** (2 * d))
    where = np.empty((d, len(unique), 2), np.int64)  # unpacked in reverse of the packing above
    for j in reversed(range(d)):
        for c in reversed(range(2)):
            rest, where[j, :, c] = np.divmod(rest, radix)
    pictures = draw(digits, where).reshape(len(unique), -1)  # (U, 4096) uint8
    total = np.zeros((h, CANVAS * CANVAS), np.int64)
    bounds = np.searchsorted(step, np.arange(h + 1))
    for t in range(h):
        lo, hi = bounds[t], bounds[t + 1]
        total[t] = (counts[lo:hi, None] * pictures[lo:hi]).sum(0)
    return (total.astype(np.float64) / s / 255.0).reshape(h, CANVAS, CANVAS)


def best_frames(digits: np.ndarray, start: np.ndarray, vel: np.ndarray, context: int, horizon: int,
                seed: int = 0, candidates: int = CANDIDATES, samples: int = 48) -> np.ndarray:
    """The best prediction `(horizon, 64, 64) float32 in [0, 1]` of the sequence drawn by `digits (D, 28, 28)
    uint8` from `start (D, 2)` px with velocities `vel (D, 2)` px/frame, after its first `context` frames.
    Reproducible from `seed`."""
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
