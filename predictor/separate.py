"""Split a Moving MNIST context into one layer per digit, from the frames alone.

Alone, a digit is far easier to roll out: the default model moves copies of the whole frame, and where two digits
share patches a part of one travels with the other (docs/training.md, "Where the default loses it"). A digit moves
rigidly inside its 28x28 box, and the generator combines digits with `np.maximum`, so another digit only ever
adds ink to a digit's view. So, for each digit in turn:

1. `box_track`: the path of a 28x28 box (a whole-pixel position per frame, steps of at most 4 px per axis) whose
   views keep the most ink from each frame to the next (the box's sum of the per-pixel minimum of two consecutive
   views); a Viterbi path over (position, step), whose step changes by at most 1 px per axis from one frame to the
   next except near a wall, where digits bounce (any change there: whichever pixel rule drew the frames, e.g. a
   rounded position resting at 0 or 36 for two frames, a step of 0 between a step in and a step out).
2. `look`: the digit's appearance, the per-pixel minimum of its views along that path, in a window 4 px wider
   than the box on each side (the path may sit a few px off the digit's own box: its views hold the digit all the
   same).
3. The next digit is tracked in the ink the layers so far do not explain.
4. Where the layers leave too much of the context unexplained, it is split again with every box re-aligned to the
   next frame's (`align_track`): near a wall a box may slide inside a digit's empty margins, and its views then
   no longer line up.
5. Where that still leaves too much, each digit's path is picked by its look instead (`box_track(..., by_look=True)`:
   of the best paths to many last boxes, the one whose look holds the most ink), and each digit is then tracked
   again in the ink the others leave (`_retrack`): two digits that overlap and move alike keep more ink in a box
   around both than in a box around either, but no look holds them both once they drift apart. A layer the others
   then cover (a part of a digit beside the whole digit) is dropped (`_drop_covered`): it would cost a rollout.

`split_digits` returns the layers (each look drawn along its path) and the share of the context's ink they leave
unexplained; `StreamingPredictor` rolls each layer out alone and combines the rollouts with `np.maximum` where the
split explains the context (`SplitDigits.usable`), and rolls out the whole frames where it does not (one digit,
three, anything that is not rigid digits); a lone digit and nothing else is rolled out whole, routed by its layer's
speed and pixel rule.

    from predictor.separate import split_digits
    split = split_digits(context)   # context (T, 64, 64) float in [0, 1]
    split.layers                    # (2, T, 64, 64) float32 in [0, 1], one digit each
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from predictor.moving_mnist import CANVAS, DIGIT as BOX, MAX_SPEED  # a digit's box; the fastest step per axis
TOP = CANVAS - BOX  # the last box position: 36
REACH = int(MAX_SPEED)  # px per axis a digit may move between frames (the model's window reaches as far)
PAD = 4  # px the look's window extends past the box on each side
WINDOW = BOX + 2 * PAD  # the look's window: 36 px
STEPS = 2 * REACH + 1
MAX_UNEXPLAINED = 0.2  # share of the context's ink (squared) a usable split may leave unexplained
MIN_LAYER_INK = 0.05  # share of the context's ink each layer must hold (else it is not a digit)
LEFTOVER_INK = 0.02  # share of the context's ink (squared) left unexplained that is rolled out as one more layer
NEW_INK = 0.1  # a pixel is left to the next digit where the frame is this much brighter than the layers so far
ALIGN_REACH = 6  # px per axis `align_track` may move a box (docs/training.md: how far was worth it)
ENDS = 64  # last boxes whose best paths `box_track(..., by_look=True)` compares by their looks
RETRACK_ROUNDS = 2  # rounds of tracking each digit again in the ink the others leave (`_retrack`)
SETTLED = 1e-3  # share of the context's ink (squared) left unexplained below which `_retrack` stops: nothing to gain
COVERED = 2e-3  # a layer whose removal leaves at most this much more unexplained is dropped (`_drop_covered`)


_IN_BOX = ((np.arange(CANVAS)[:, None] >= np.arange(TOP + 1)) &  # (64, 37): pixel p lies in the box at q
           (np.arange(CANVAS)[:, None] < np.arange(TOP + 1) + BOX)).astype(np.float32)
_D = np.arange(STEPS) - REACH
_Q = np.arange(TOP + 1)
_ONCANVAS = (_Q[None, :] + _D[:, None] >= 0) & (_Q[None, :] + _D[:, None] <= TOP)  # (step, position) per axis
_FITS = _ONCANVAS[:, None, :, None] & _ONCANVAS[None, :, None, :]
_OFF = ~_FITS  # (step, step, position, position): a box that left the canvas
_NEAR = (_Q <= REACH) | (_Q >= TOP - REACH)  # box positions near a wall: a bounce changes the step there
_WALLS = (slice(0, REACH + 1), slice(TOP - REACH, TOP + 1))  # the same positions, as two slices


@dataclasses.dataclass
class SplitDigits:
    """layers `(L, T, 64, 64) float32 in [0, 1]`; tracks `(L, T, 2) int` (top-left of each box, y, x);
    unexplained: `sum((max over layers - frames)^2) / sum(frames^2)` over the context; usable: a split worth
    rolling out layer by layer (at least two layers with ink, and little left unexplained)."""

    layers: np.ndarray
    tracks: np.ndarray
    unexplained: float

    @property
    def usable(self) -> bool:
        return len(self.layers) >= 2 and self.unexplained <= MAX_UNEXPLAINED


def ink_levels(frames) -> np.ndarray:
    """Frames float in [0, 1] -> float32 whole numbers in [0, 255]: every box sum of them (at most 28 * 28 * 255)
    is exact in float32 in whatever order it is summed, and so is a path's total over up to 83 frame pairs (2**24)."""
    return np.rint(np.asarray(frames, np.float32) * 255)


def _shifted_views(b: np.ndarray) -> np.ndarray:
    """`(..., STEPS, STEPS, 64, 64)` views of `b (..., 64, 64)`: `[..., i, j, y, x] = b[..., y + i - R, x + j - R]`
    (zero past the canvas)."""
    pad = [(0, 0)] * (b.ndim - 2) + [(REACH, REACH)] * 2
    return sliding_window_view(np.pad(b, pad), (CANVAS, CANVAS), axis=(-2, -1))


def _box_sums(a: np.ndarray, views: np.ndarray) -> np.ndarray:
    """`(STEPS, STEPS, 37, 37)`: for each step d (index = d + REACH per axis) and box position q, the ink a box at q
    in frame `a` keeps at q + d in the next frame (box sum of the per-pixel minimum of `a` and `views`, that frame's
    `_shifted_views`; both in `ink_levels`). Summed over the rows and columns that hold `a`'s ink only (the minimum
    is 0 elsewhere): a digit or two cover a fraction of the canvas. Steps that leave the canvas get a number too."""
    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    if not len(rows):
        return np.zeros(_FITS.shape, np.float32)
    y, x = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    return _IN_BOX[y].T @ np.minimum(a[y, x], views[..., y, x]) @ _IN_BOX[x]  # a matrix product is fastest


def _arrivals(value: np.ndarray, padded: np.ndarray | None = None) -> np.ndarray:
    """`arrive[i, j, q]`: the value of the path whose box at q - d (d = step (i, j)) stepped to q; -inf if none.
    `padded`: a `(STEPS, STEPS, 37 + 2 * REACH, 37 + 2 * REACH)` buffer whose border is -inf (`_padded_values`),
    reused from call to call (its centre is overwritten)."""
    n = TOP + 1
    padded = _padded_values() if padded is None else padded
    padded[:, :, REACH : REACH + n, REACH : REACH + n] = value
    # arrive[i, j, y, x] = padded[i, j, y + REACH - dy, x + REACH - dx] with dy = i - REACH, dx = j - REACH: one
    # strided view of the buffer (one copy, instead of 9 + 9 shifted slices into two -inf arrays).
    s0, s1, s2, s3 = padded.strides
    view = as_strided(padded[:, :, 2 * REACH :, 2 * REACH :], value.shape, (s0 - s2, s1 - s3, s2, s3), writeable=False)
    return view.copy()


def _padded_values() -> np.ndarray:
    """`_arrivals`' buffer: `(STEPS, STEPS, 37 + 2 * REACH, 37 + 2 * REACH)` float32, all -inf."""
    return np.full((STEPS, STEPS, TOP + 1 + 2 * REACH, TOP + 1 + 2 * REACH), -np.inf, np.float32)


def _best_previous(arrive: np.ndarray, axis: int) -> np.ndarray:
    """Max of `arrive` over the previous step along `axis` (0: y, 1: x): within 1 px of the new step, or any step
    near a wall along that axis (where the digit may have bounced)."""
    along = lambda s: (slice(None),) * axis + (s,)  # noqa: E731  (no moveaxis: strided copies are slow)
    best = arrive.copy()
    np.maximum(best[along(slice(1, None))], arrive[along(slice(None, -1))], out=best[along(slice(1, None))])
    np.maximum(best[along(slice(None, -1))], arrive[along(slice(1, None))], out=best[along(slice(None, -1))])
    anywhere = arrive.max(axis=axis, keepdims=True)
    for wall in _WALLS:  # positions along the same axis: y is the third axis, x the fourth
        near = (Ellipsis, wall) + ((slice(None),) if axis == 0 else ())
        best[near] = anywhere[near]
    return best


def box_track(frames: np.ndarray, by_look: bool = False) -> np.ndarray:
    """The box path `(T, 2) int` (top-left y, x in [0, 36]) through `frames (T, 64, 64)` (T >= 2, float in [0, 1])
    whose views keep the most ink from frame to frame (see the module docstring). `by_look`: of the best paths to
    each of the `ENDS` last boxes that keep the most, the one whose `look` holds the most ink: where two digits
    overlap and move alike, a box around both keeps more from frame to frame than one around either, but no single
    look holds them both once they drift apart."""
    value, arrivals = _forward(_pair_sums(frames))
    if not by_look:
        return _backtrack(value, arrivals, np.unravel_index(np.argmax(value), value.shape))
    best = value.max(axis=(0, 1))  # (37, 37): the best path's ink to each last box
    qy, qx = np.unravel_index(np.argsort(best, axis=None)[::-1][:ENDS], best.shape)
    i, j = np.unravel_index(value[:, :, qy, qx].reshape(STEPS * STEPS, -1).argmax(axis=0), (STEPS, STEPS))
    paths = _backtrack(value, arrivals, (i, j, qy, qx))  # (ENDS, T, 2)
    return paths[np.argmax((looks(frames, paths) ** 2).sum(axis=(1, 2), dtype=np.float64))]


def _pair_sums(frames: np.ndarray) -> list:
    """`_box_sums` of each pair of consecutive frames of `frames (T, 64, 64)`: T - 1 arrays (STEPS, STEPS, 37, 37)."""
    levels = ink_levels(frames)
    views = _shifted_views(levels[1:])  # (T - 1, STEPS, STEPS, 64, 64)
    return [_box_sums(a, b) for a, b in zip(levels[:-1], views)]


def _forward(sums: list) -> tuple[np.ndarray, list]:
    """The Viterbi pass over `_pair_sums` `sums`: (the most ink a path keeps to each last (step, box), the arrivals
    of each frame for `_backtrack`)."""
    # No -inf for steps off the canvas until the end: the next arrivals drop any box that left it.
    value = sums[0].copy()
    arrivals, padded = [], _padded_values()
    for s in sums[1:]:
        arrivals.append(_arrivals(value, padded))
        value = _best_previous(_best_previous(arrivals[-1], 1), 0)
        value += s
    np.copyto(value, -np.inf, where=_OFF)
    return value, arrivals


def _backtrack(value: np.ndarray, arrivals: list, end) -> np.ndarray:
    """The path `(T, 2) int` that `_forward` took to `end` (step i, step j, box y, box x); `(E, T, 2)` for `end` a
    tuple of four `(E,)` arrays (E paths at once)."""
    i, j, qy, qx = (np.atleast_1d(a).astype(np.int64) for a in end)
    steps = np.arange(STEPS)
    path = [np.stack([qy + i - REACH, qx + j - REACH], -1), np.stack([qy, qx], -1)]
    for arrive in reversed(arrivals):  # which previous step the forward pass took (the same rule, one state)
        ok_y = _NEAR[qy][:, None] | (np.abs(steps[None, :] - i[:, None]) <= 1)  # (E, STEPS)
        ok_x = _NEAR[qx][:, None] | (np.abs(steps[None, :] - j[:, None]) <= 1)
        scores = np.where(ok_y[:, :, None] & ok_x[:, None, :], np.moveaxis(arrive[:, :, qy, qx], -1, 0), -np.inf)
        i, j = np.unravel_index(scores.reshape(len(qy), -1).argmax(axis=1), (STEPS, STEPS))
        qy, qx = qy - (i - REACH), qx - (j - REACH)
        path.append(np.stack([qy, qx], -1))
    paths = np.stack(path[::-1], axis=1).astype(np.int64)  # (E, T, 2)
    return paths if np.ndim(end[0]) else paths[0]


def look(frames: np.ndarray, track: np.ndarray) -> np.ndarray:
    """`(36, 36)`: the per-pixel minimum of `frames (T, 64, 64)` over the window around each box of `track (T, 2)`
    (4 px wider than the box on each side; zero past the canvas)."""
    return looks(frames, np.asarray(track)[None])[0]


def looks(frames: np.ndarray, tracks: np.ndarray) -> np.ndarray:
    """`look` along each of `tracks (E, T, 2)` at once -> `(E, 36, 36)`."""
    padded = np.pad(frames, [(0, 0), (PAD, PAD), (PAD, PAD)])
    windows = sliding_window_view(padded, (WINDOW, WINDOW), axis=(1, 2))  # (T, 37, 37, 36, 36), no copy
    return windows[np.arange(len(frames)), tracks[..., 0], tracks[..., 1]].min(axis=1)


def draw_look(img: np.ndarray, track: np.ndarray) -> np.ndarray:
    """`(T, 64, 64)`: the look `img (36, 36)` drawn along `track (T, 2)` (the inverse of `look`'s windows)."""
    out = np.zeros((len(track), CANVAS + 2 * PAD, CANVAS + 2 * PAD), np.float32)
    for t, (y, x) in enumerate(track):
        out[t, y : y + WINDOW, x : x + WINDOW] = img
    return out[:, PAD:-PAD, PAD:-PAD]


def align_track(frames: np.ndarray, track: np.ndarray, reach: int = ALIGN_REACH) -> np.ndarray:
    """`track (T, 2)` with each box moved by up to `reach` px per axis so that its window (the look's, 36x36) keeps
    the most ink of the next frame's window, from the last frame back (the last box stays where it is). Near a wall
    the tracker lets a box change its step, so a box may slide inside a digit's empty margins and bounce early: the
    ink it keeps is the same, but its views no longer line up and their minimum loses the digit."""
    levels = ink_levels(frames)
    padded = np.pad(levels, [(0, 0), (PAD + reach, PAD + reach), (PAD + reach, PAD + reach)])
    shifts = np.arange(-reach, reach + 1)
    nearer = 1e-3 * (np.abs(shifts)[:, None] + np.abs(shifts)[None, :])  # ties (whole ink levels) go to the nearest
    out = np.array(track, np.int64)
    for t in range(len(track) - 2, -1, -1):
        (y, x), (ny, nx) = track[t], out[t + 1] + reach
        following = padded[t + 1, ny : ny + WINDOW, nx : nx + WINDOW]
        around = padded[t, y : y + WINDOW + 2 * reach, x : x + WINDOW + 2 * reach]
        candidates = sliding_window_view(around, (WINDOW, WINDOW))
        kept = np.minimum(candidates, following).sum(axis=(2, 3)) - nearer
        on_canvas = ((y + shifts >= 0) & (y + shifts <= TOP))[:, None] & ((x + shifts >= 0) & (x + shifts <= TOP))
        i, j = np.unravel_index(np.argmax(np.where(on_canvas, kept, -np.inf)), kept.shape)
        out[t] = (y + shifts[i], x + shifts[j])
    return out


def split_digits(frames, digits: int = 2) -> SplitDigits:
    """Split `frames (T, 64, 64)` float in [0, 1] (T >= 2) into up to `digits` layers, one digit each. Where that
    leaves too much unexplained, the split is made again with every track re-aligned (`align_track`), then by the
    looks (`box_track(..., by_look=True)`, `_retrack`), and the one that explains the most is kept."""
    frames = np.asarray(frames, np.float32)
    if frames.ndim != 3 or frames.shape[1:] != (CANVAS, CANVAS) or len(frames) < 2:
        raise ValueError(f"split_digits needs frames (T >= 2, 64, 64). Received: shape={frames.shape}")
    split, first = _split(frames, digits)
    if split.usable:
        return split
    again, _ = _split(frames, digits, aligned=True, first=first)
    split = again if again.unexplained < split.unexplained else split
    if split.usable:
        return split
    looked = _retrack(frames, _split(frames, digits, by_look=True)[0])
    return _drop_covered(frames, looked if looked.unexplained < split.unexplained else split)


def _retrack(frames: np.ndarray, split: SplitDigits, rounds: int = RETRACK_ROUNDS) -> SplitDigits:
    """`split` with each digit tracked again (`box_track(..., by_look=True)`) in the ink the other layers leave, kept
    where that explains more: where two digits overlap, the first one tracked may have taken a part of the second."""
    layers, tracks, best = list(split.layers), list(split.tracks), split.unexplained
    for _ in range(rounds if len(layers) >= 2 else 0):
        before = best
        for k in range(len(layers)):
            if best <= SETTLED:
                break
            others = np.max(layers[:k] + layers[k + 1 :], axis=0)
            track = box_track(np.where(frames > others + NEW_INK, frames, 0.0).astype(np.float32), by_look=True)
            trial = layers[:k] + [draw_look(look(frames, track), track)] + layers[k + 1 :]
            unexplained = _unexplained(frames, np.max(trial, axis=0))
            if unexplained < best:
                layers[k], tracks[k], best = trial[k], track, unexplained
        if best >= before:
            break
    return SplitDigits(np.stack(layers), np.stack(tracks), best) if len(layers) >= 2 else split


def _drop_covered(frames: np.ndarray, split: SplitDigits) -> SplitDigits:
    """`split` without the layers the others explain (each dropped while that leaves at most `COVERED` more of the
    context unexplained, the least missed first): the look passes may end with a digit's part as a layer of its own
    beside the whole digit, which would only cost one more rollout."""
    layers, tracks, best = list(split.layers), list(split.tracks), split.unexplained
    while len(layers) >= 2:
        without = [_unexplained(frames, np.max(layers[:k] + layers[k + 1 :], axis=0)) for k in range(len(layers))]
        k = int(np.argmin(without))
        if without[k] > best + COVERED:
            break
        del layers[k], tracks[k]
        best = without[k]
    return split if len(layers) == len(split.layers) else SplitDigits(np.stack(layers), np.stack(tracks), best)


def _unexplained(frames: np.ndarray, covered: np.ndarray) -> float:
    """`SplitDigits.unexplained` of layers whose maximum is `covered (T, 64, 64)` over `frames (T, 64, 64)`."""
    return float(((covered - frames) ** 2).sum()) / (float((frames**2).sum()) or 1.0)


def track_speed(track) -> float:
    """How fast a box `track (T, 2)` (px per axis, T >= 2) moves, in px/frame: per axis the mean size of its steps,
    leaving out the steps at a turn (from the last before a change of direction to the first after it: a bounce's
    shorter step, a rounded position's rest at a wall) and a first or last step more than a pixel shorter than the
    longest (a stop or rest at a wall whose turn lies outside the track: a constant speed draws whole-pixel steps
    that differ by at most one); all its steps where that leaves none. The norm of the two axes; 0 for a box that
    stays put."""
    steps = np.diff(np.asarray(track, np.float32), axis=0)  # (T - 1, 2)
    if steps.ndim != 2 or steps.shape[1] != 2 or len(steps) < 1:
        raise ValueError(f"track_speed needs a track (T >= 2, 2). Received: shape={np.shape(track)}")
    per_axis = []
    for s in steps.T:
        keep, moving = np.ones(len(s), bool), np.flatnonzero(s)
        for a, b in zip(moving[:-1], moving[1:]):
            if np.sign(s[a]) != np.sign(s[b]):
                keep[a : b + 1] = False
        size, kept = np.abs(s), np.flatnonzero(keep)
        if len(kept) > 2:  # 4 px/frame read as 3.4 put a digit among the model's own speeds (docs/training.md)
            keep[[end for end in (kept[0], kept[-1]) if size[end] < size[kept].max() - 1]] = False
        per_axis.append((size[keep] if keep.any() else size).mean())
    return float(np.hypot(*per_axis))


def leftover(frames, layers) -> np.ndarray | None:
    """The ink of `frames (T, 64, 64)` float in [0, 1] that `layers (L, T, 64, 64)` do not explain (where a frame
    is brighter than every layer by more than NEW_INK, the frame's own value), `(T, 64, 64) float32`; None where
    that is under LEFTOVER_INK of the context's ink (squared): the edges of digits the looks miss by a pixel, not a
    thing of its own. A rollout by layers rolls it out as one more layer, so ink outside the digits is never
    dropped."""
    frames = np.asarray(frames, np.float32)
    covered = np.max(layers, axis=0) if len(layers) else np.zeros_like(frames)
    rest = np.where(frames > covered + NEW_INK, frames, 0.0).astype(np.float32)
    ink = float((frames**2).sum()) or 1.0
    return rest if float((rest**2).sum()) >= LEFTOVER_INK * ink else None


def _split(frames: np.ndarray, digits: int, aligned: bool = False, first: np.ndarray | None = None,
           by_look: bool = False):
    """(the split, the first digit's `box_track` before any alignment, or None if none was made). `first`: that
    track from an earlier pass (the first digit is tracked in the same ink in every pass: no need to track it again)."""
    ink = float((frames**2).sum()) or 1.0
    layers, tracks = [], []
    covered = np.zeros_like(frames)
    for k in range(digits):
        rest = np.where(frames > covered + NEW_INK, frames, 0.0)
        if (rest**2).sum() < MIN_LAYER_INK * ink:
            break
        track = first if k == 0 and first is not None else box_track(rest, by_look)
        if k == 0:
            first = track
        if aligned:
            track = align_track(rest, track)
        layer = draw_look(look(frames, track), track)
        if (layer**2).sum() < MIN_LAYER_INK * ink:
            break
        layers.append(layer)
        tracks.append(track)
        covered = np.maximum(covered, layer)
    unexplained = _unexplained(frames, covered)
    empty = np.zeros((0, *frames.shape), np.float32)
    return SplitDigits(np.stack(layers) if layers else empty,
                       np.stack(tracks) if tracks else np.zeros((0, len(frames), 2), np.int64), unexplained), first
