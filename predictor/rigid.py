"""Draw a part that moves as the generator moves a digit where its possible tracks put it (hand-written, no network).

A Moving MNIST digit is a rigid sprite in a 28x28 box whose float position moves at a constant velocity, clamped at
the canvas' walls where that velocity component flips (`moving_mnist.move`), and is drawn at whole pixels (truncated
or rounded: `PIXEL_RULES`). Each axis moves on its own, so the context's whole-pixel positions of the ink leave, per
axis, a small set of possible (position, velocity) states: `read_rigid` finds it on a grid (every start inside the
first pixel, every velocity up to `MAX_SPEED` + 0.5), for each offset of the ink inside its box (where MNIST centres
the ink's mass: `OFFSET_SPREAD`; failing that, near the box's centre as a shape is: `BOX_SPREAD`; any offset for a
lone part: `any_offset`) and each pixel rule, and `RigidReading.frames` draws the sprite at every position those
states reach, weighted by how likely each is: the mean of the futures the context allows, the best prediction under
MSE if the part is what it looks like (`predictor.bound` is the same with the hidden state known). The one place the
axes meet is the prior on speed: a pair of states at the generator's `SPEED` weighs `1 + SPEED_PRIOR` times more
than any other, so a context some range of speeds draws leans to that one; and as the generator moves every digit of
a clip at one speed, the parts of a context share their speeds (`share_speed`).

A part it reads is one sprite, exactly the same in every context frame (to `TOLERANCE`), inside a 28x28 box that
stays on the canvas, whose positions some track of the generator draws; anything else (noise, a turning or
growing object, two digits moving apart, a part too short to read) is None, and `StreamingPredictor` rolls it out
with its networks. An axis that never moves in the context is read as still (a velocity of exactly 0): a hand-made
path with no motion along that axis, rather than a blur of every speed slower than a pixel per context.

Selection (seeds 11 / 13, 60 sequences per cell; the default's own routing of the rest): one digit 20.7 / 22.4 ->
9.6 / 11.9, standard 37.8 / 38.2 -> 23.2 / 21.8 with the rule's evidence shared by a context's parts (`share_rule`;
docs/training.md), -> 8.9 / 9.5 and 17.2 / 17.4 with the speed prior; 1 / 2 / 3 px/frame 32.0 / 28.1, 25.1 / 27.2,
21.7 / 25.5 -> 30.4 / 27.0, 21.9 / 24.9, 18.7 / 22.4 with shared speeds. About 4 ms of one core per part read and drawn.

    from predictor.rigid import read_rigid
    reading = read_rigid(part)          # part (T, 64, 64) float in [0, 1]; None if not one rigid sprite
    future = reading.frames(10)         # (10, 64, 64) float32 in [0, 1]
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.signal import fftconvolve

from predictor.bound import follow_axis
from predictor.moving_mnist import CANVAS, DIGIT as BOX, MAX_SPEED, PIXEL_RULES, RULE_OFFSET, SPEED, move

TOP = CANVAS - BOX  # the box's last position: 36
MIN_FRAMES = 3  # context frames a reading needs (two give every speed a chance)
TOLERANCE = 1  # ink levels (of 255) a frame may differ from the sprite: rounding, not noise
STARTS = 20  # grid points per pixel of start position (0.05 px apart)
SPEED_STEP = 0.01  # px/frame between grid velocities
VELOCITIES = np.arange(-MAX_SPEED - 0.5, MAX_SPEED + 0.5 + SPEED_STEP / 2, SPEED_STEP)
OFFSET_SPREAD = 0.2  # px: std of the ink's offset in its box around `14 - centre of mass`: on training digits
# 0-3999 (which MNIST centres by mass) the offset is the whole number within half a pixel of it; a look the split
# made may be a little off. Chosen on selection seeds 11 / 13 (60 per cell) among 0.1-1.0: 0.5 -> 0.2, standard
# 26.7 / 25.0 -> 25.1 / 23.8, one digit 11.5 / 13.0 -> 9.6 / 11.9, rounded 27.0 / 26.1 -> 24.4 / 25.2
BOX_SPREAD = 1.0  # px: where no mass-centred offset draws a layer, offsets this near the box's centre may (a shape)
BOX_MAX_LOOK = 22  # px: ... if its look is no bigger than one object (an MNIST digit is 20 on its longer side, the
# shapes 10-22); a bigger look is two objects' ink merged by the split, whose walls no offset tells. Selection 11 / 13
# (60 per cell): objects 39.1 / 39.6 -> 32.3 / 33.1, a speed per digit 19.4 / 24.6 -> 19.3 / 24.3 (without the size
# rule 20.7 / 24.3, objects 30.6 / 33.0; spread 0.5: objects 34.1 / 35.1); standard, 1 px, three within 0.1
MIN_OFFSET_PRIOR = 0.01  # offsets less likely than this are read only where no likelier one draws the context
MAX_STATES = 4096  # states per axis, rule and offset carried into the future (memory and time of a long horizon)
CHUNK = 64  # frames drawn per FFT (memory of a long horizon)
SPEED_PRIOR = 100.0  # how much likelier a pair of states at the generator's speed is than any other (positions)
SPEED_WIDTH = 0.01  # px/frame: how near `SPEED` a pair's speed must be to count as the generator's (one grid step).
# Both chosen on selection seeds 11 / 13 (60 per cell; standard / rounded): none 23.2 / 21.8, 23.1 / 23.8; 10 at 0.05
# 20.6 / 20.0, 21.0 / 21.0; 100 at 0.05, 0.02, 0.01, 0.005: 20.3 / 19.8, 17.9 / 18.0, 17.2 / 17.4, 17.4 / 17.6
# (rounded 20.8 / 20.7, 18.6 / 17.7, 17.2 / 16.2, 16.9 / 15.7); 1000 and 10000 at 0.01 within 0.2 (0-4 +0.1)
SHARE_SPEED = 10.0  # how much likelier a part's pair of states is at the speed of the context's other parts.
# Selection 11 / 13 (60 per cell; 1 / 2 / 3 px/frame, a speed per digit, rounded): none 32.0 / 28.1, 25.1 / 27.2,
# 21.7 / 25.5, 19.3 / 24.4, 17.2 / 16.2; 10: 30.4 / 27.0, 21.9 / 24.9, 18.7 / 22.4, 19.4 / 24.6, 17.3 / 16.2; 30 and
# 100 gain up to 0.7 more at 1-3 px but cost a speed per digit and rounded up to 0.4 (standard, three: within 0.2)
SPEED_BINS = int(np.ceil(np.hypot(MAX_SPEED + 0.5, MAX_SPEED + 0.5) / SPEED_STEP)) + 2  # speeds in grid steps
FFT_NOISE = 1e-6  # below this a drawn pixel is the FFT's rounding (a real one is >= 1/255 times a probability)


@dataclasses.dataclass
class AxisStates:
    """One axis' possible states at the last context frame under one pixel rule: positions `pos (N,)` float px of
    the box in [0, 36], velocities `vel (N,)` px/frame, the ink's offset in its box `offset (N,)` int px, and
    `weight (N,)` summing to 1; `evidence`: how much of the prior's volume drew the context (relative)."""

    pos: np.ndarray
    vel: np.ndarray
    offset: np.ndarray
    weight: np.ndarray
    evidence: float

    def speeds(self) -> np.ndarray:
        """`(N,)` int: each state's speed along this axis in `SPEED_STEP`s (a bounce flips the sign, not this)."""
        return np.rint(np.abs(self.vel) / SPEED_STEP).astype(np.int64)


@dataclasses.dataclass
class RigidReading:
    """A rigid part's `sprite (h, w) float32 in [0, 1]` (its ink's bounding box) and, per pixel rule, its weight
    and its two axes' states (`{rule: (weight, AxisStates y, AxisStates x)}`, weights summing to 1)."""

    sprite: np.ndarray
    rules: dict
    speed_hint: np.ndarray | None = None  # (SPEED_BINS,) >= 0: more weight for pairs at these speeds (`share_speed`)

    def frames(self, horizon: int) -> np.ndarray:
        """The mean of the futures the context allows: `(horizon, 64, 64) float32 in [0, 1]`."""
        return self.draw(self.positions(horizon))

    def draw(self, at: np.ndarray) -> np.ndarray:
        """The sprite drawn at every position of `at` (`positions`), weighted: `(H, 64, 64) float32 in [0, 1]`."""
        out = np.empty(at.shape, np.float32)
        for k in range(0, len(at), CHUNK):  # one convolution per chunk of frames
            out[k : k + CHUNK] = fftconvolve(at[k : k + CHUNK], self.sprite[None], axes=(1, 2))[:, :CANVAS, :CANVAS]
        out[out < FFT_NOISE] = 0.0  # where no position reaches, the FFT leaves ~1e-9, not 0
        return np.minimum(out, 1.0)

    def positions(self, horizon: int) -> np.ndarray:
        """`(horizon, 64, 64)` float summing to 1 per frame: the probability that the sprite's top-left pixel is at
        each pixel in each predicted frame.

        The axes move on their own, but the generator's speed couples them: a pair of y and x states weighs
        `1 + SPEED_PRIOR` times more where their speed is the generator's `SPEED` (within `SPEED_WIDTH`), so a
        context that any speed in a range draws leans to the one the standard protocol uses."""
        at, total = np.zeros((horizon, CANVAS, CANVAS)), 0.0
        for rule, (weight, ys, xs) in self.rules.items():
            off = RULE_OFFSET[rule]
            iy, ix, _, ring = self._pair_prior(ys, xs)
            mass = 1.0 + np.bincount(iy, ys.weight) @ ring @ np.bincount(ix, xs.weight)
            (py, vy), (px, vx) = (ys.pos, ys.vel), (xs.pos, xs.vel)
            for k in range(horizon):
                (py, vy), (px, vx) = move(py, vy), move(px, vx)
                ay, ax = _ink_by_speed(py, ys, iy, ring.shape[0], off), _ink_by_speed(px, xs, ix, ring.shape[1], off)
                frame = ay.sum(1)[:, None] * ax.sum(1)[None, :]
                if ring.any():
                    frame += (ay @ ring) @ ax.T
                at[k] += weight * frame
            total += weight * mass
        return at / total

    def _pair_prior(self, ys: AxisStates, xs: AxisStates):
        """Each state's index into its axis' distinct speeds (`iy (Ny,)`, `ix (Nx,)`), the speed of each pair of them
        (`speed (Uy, Ux)` float, grid steps) and `ring (Uy, Ux)`: how much more than 1 such a pair of y and x states
        weighs (the generator's `SPEED`, and `speed_hint`)."""
        (uy, iy), (ux, ix) = (np.unique(s.speeds(), return_inverse=True) for s in (ys, xs))
        speed = np.hypot(*np.meshgrid(uy, ux, indexing="ij"))
        ring = SPEED_PRIOR * np.exp(-0.5 * ((speed * SPEED_STEP - SPEED) / SPEED_WIDTH) ** 2)
        if self.speed_hint is not None:
            ring = ring + self.speed_hint[np.rint(speed).astype(np.int64)]
        ring[ring < FFT_NOISE] = 0.0
        return iy, ix, speed, ring

    def speed_histogram(self) -> np.ndarray:
        """`(SPEED_BINS,)` summing to 1: how likely each speed (grid steps of `SPEED_STEP`) is, axes paired."""
        out = np.zeros(SPEED_BINS)
        for weight, ys, xs in self.rules.values():
            iy, ix, speed, ring = self._pair_prior(ys, xs)
            pairs = np.outer(np.bincount(iy, ys.weight), np.bincount(ix, xs.weight)) * (1.0 + ring)
            out += weight * np.bincount(np.rint(speed).astype(np.int64).ravel(), pairs.ravel(), minlength=SPEED_BINS)
        return out / out.sum()

    @staticmethod
    def sureness(at: np.ndarray) -> np.ndarray:
        """`(H,)` the probability of the most likely position in each frame of `at` (`positions`; 1: certain)."""
        return at.reshape(len(at), -1).max(axis=1)

    def mean_steps(self, at: np.ndarray) -> np.ndarray:
        """`(H, 2)` float: the expected (dy, dx) of the ink from each frame of `at` (`positions`) to the next, the
        last context frame's (where every state puts it) first, for `explain`."""
        rule, (_, ys, xs) = next(iter(self.rules.items()))
        last = [s.offset[0] + np.floor(s.pos[0] + RULE_OFFSET[rule]) for s in (ys, xs)]
        grid = np.arange(CANVAS)
        mean = np.stack([at.sum(2) @ grid, at.sum(1) @ grid], axis=1)
        return np.diff(np.concatenate([[last], mean]), axis=0)


def _ink_by_speed(pos: np.ndarray, states: AxisStates, index: np.ndarray, speeds: int, rule_offset: float):
    """`(64, speeds)`: the weight of `states` (moved on to box positions `pos (N,)`) by the whole pixel their ink
    starts at and by their speed (`index (N,)` into the axis' distinct speeds)."""
    ink = np.floor(pos + rule_offset).astype(np.int64) + states.offset
    return np.bincount(ink * speeds + index, states.weight, minlength=CANVAS * speeds).reshape(CANVAS, speeds)


def read_rigid(part, any_offset: bool = False) -> RigidReading | None:
    """The reading of `part (T, 64, 64) float in [0, 1]` (a context, or one of its digit layers), or None where it is
    not one rigid sprite that some track of the generator draws (see the module's docstring).

    `any_offset`: where no offset of the ink in its box near where MNIST centres it draws the context, try every
    offset (a shape or a hand-made sprite, centred otherwise). For a context's whole frames: on a digit layer the
    split got wrong (two digits' ink in one look), a free offset explains a false step as a wall (selection: a speed
    per digit 21.1 -> 23.0)."""
    levels = np.rint(np.asarray(part, np.float32) * 255).astype(np.int32)
    if len(levels) < MIN_FRAMES:
        return None
    found = _sprite_track(levels)
    if found is None:
        return None
    sprite, tops, lefts = found
    mass = sprite.astype(np.float64)
    centre = [np.arange(n) @ mass.sum(axis) / mass.sum() for n, axis in ((sprite.shape[0], 1), (sprite.shape[1], 0))]
    rules = {}
    for rule in PIXEL_RULES:
        axes = [_axis_states(q, extent, c, RULE_OFFSET[rule], any_offset, max(sprite.shape) <= BOX_MAX_LOOK)
                for q, extent, c in
                ((tops, sprite.shape[0], centre[0]), (lefts, sprite.shape[1], centre[1]))]
        if all(a is not None for a in axes):
            rules[rule] = [axes[0].evidence * axes[1].evidence, *axes]
    total = sum(r[0] for r in rules.values())
    if not total:
        return None
    return RigidReading((sprite / 255.0).astype(np.float32), {k: (w / total, y, x) for k, (w, y, x) in rules.items()})


def share_rule(readings: list) -> list:
    """The readings of one context's parts (None where a part is not read), each with its pixel rules weighted by the
    evidence of all of them: one generator draws every digit of a sequence with one rule, so a bounce that tells it
    on one digit tells it on the others. Readings whose rules no rule agrees with are left as they were."""
    read = [r for r in readings if r is not None]
    pooled = {rule: np.prod([r.rules.get(rule, (0.0,))[0] for r in read]) for rule in PIXEL_RULES}
    total = sum(pooled.values())
    if len(read) < 2 or not total:
        return readings
    return [r if r is None else RigidReading(r.sprite, {k: (pooled[k] / total, ys, xs) for k, (_, ys, xs) in
                                                         r.rules.items() if pooled[k]}) for r in readings]


def share_speed(readings: list, weight: float | None = None) -> list:
    """The readings of one context's parts (None where not read), each told the others' speeds (`speed_hint`): the
    generator moves every digit of a sequence at one speed, so a pair of states at a speed the other parts have
    weighs up to `1 + weight` more. Each other part's speed histogram is smoothed by `SPEED_WIDTH` and scaled to a
    peak of 1; with several others, their product."""
    weight = SHARE_SPEED if weight is None else weight
    read = [r for r in readings if r is not None]
    if len(read) < 2 or not weight:
        return readings
    grid = np.arange(-3 * SPEED_WIDTH, 3 * SPEED_WIDTH + SPEED_STEP / 2, SPEED_STEP)
    kernel = np.exp(-0.5 * (grid / SPEED_WIDTH) ** 2)
    shapes = []
    for r in read:
        h = np.convolve(r.speed_histogram(), kernel, mode="same")
        shapes.append(h / h.max())
    out, k = [], 0
    for r in readings:
        if r is None:
            out.append(None)
            continue
        others = np.prod([s for j, s in enumerate(shapes) if j != k], axis=0)
        out.append(dataclasses.replace(r, speed_hint=weight * others))
        k += 1
    return out


def _sprite_track(levels: np.ndarray):
    """`levels (T, 64, 64) int` -> (sprite `(h, w) int` the last frame's ink box, tops `(T,)`, lefts `(T,)`) where
    every frame is that sprite at its ink box and nothing else (to `TOLERANCE`); else None."""
    boxes = []
    for frame in levels > TOLERANCE:
        rows, cols = np.flatnonzero(frame.any(1)), np.flatnonzero(frame.any(0))
        if not len(rows):
            return None
        boxes.append((rows[0], rows[-1] + 1, cols[0], cols[-1] + 1))
    boxes = np.array(boxes)
    size = boxes[:, [1, 3]] - boxes[:, [0, 2]]
    if (size != size[-1]).any() or (size[-1] > BOX).any():
        return None
    y0, y1, x0, x1 = boxes[-1]
    sprite = levels[-1, y0:y1, x0:x1]
    for frame, (y0, y1, x0, x1) in zip(levels, boxes):
        rest = frame.copy()
        rest[y0:y1, x0:x1] = np.abs(frame[y0:y1, x0:x1] - sprite)
        if rest.max() > TOLERANCE:
            return None
    return sprite, boxes[:, 0], boxes[:, 2]


def _axis_states(ink: np.ndarray, extent: int, centre: float, rule_offset: float,
                 any_offset: bool = False, box_centred: bool = True) -> AxisStates | None:
    """The states of one axis whose ink starts at whole pixels `ink (T,)` (its extent `extent` px, its centre of
    mass `centre` px from its start), under the pixel rule `floor(position + rule_offset)`; None if none draw them.
    `any_offset`: see `read_rigid`; `box_centred`: where no mass-centred offset draws it, try those near the box's
    centre (`BOX_SPREAD`; False for a look bigger than one object, `BOX_MAX_LOOK`)."""
    offsets = np.arange(0, BOX - extent + 1)
    prior = np.exp(-0.5 * ((offsets - (14 - centre)) / OFFSET_SPREAD) ** 2)
    prior = prior / prior.sum() if prior.sum() else np.full(len(offsets), 1.0 / len(offsets))
    found = _offset_states(ink, np.flatnonzero(prior >= MIN_OFFSET_PRIOR), prior, rule_offset)
    if not found and BOX_SPREAD and box_centred:  # centred by its box (a shape), not its mass: each unlikely
        near = np.exp(-0.5 * ((offsets - (BOX - extent) / 2) / BOX_SPREAD) ** 2)
        found = _offset_states(ink, np.flatnonzero(near >= 0.1), MIN_OFFSET_PRIOR * near / near.sum(), rule_offset)
    if not found and any_offset:  # not centred as MNIST centres a digit (a shape, a hand-made sprite): each unlikely
        found = _offset_states(ink, offsets, np.full(len(offsets), MIN_OFFSET_PRIOR / len(offsets)), rule_offset)
    if not found:
        return None
    total = sum(e for *_, e in found)
    weight = np.concatenate([np.full(len(pos), e / total / len(pos)) for pos, _, _, e in found])
    return AxisStates(np.concatenate([p for p, *_ in found]), np.concatenate([v for _, v, *_ in found]),
                      np.concatenate([np.full(len(p), o) for p, _, o, _ in found]), weight, total)


def _offset_states(ink: np.ndarray, offsets, prior: np.ndarray, rule_offset: float) -> list:
    """For each of `offsets` (indices into `prior`, px) whose box stays on the canvas and some state draws: (box
    positions `(N,)` at the last frame, velocities `(N,)`, the offset, its evidence: prior times the share of the
    grid that agrees times the first pixel's width)."""
    still = (ink == ink[0]).all()
    parts = []
    for offset in offsets:
        p, box = prior[offset], ink - offset
        if box.min() < 0 or box.max() > TOP:
            continue
        lo, hi = max(0.0, box[0] - rule_offset), min(float(TOP), box[0] + 1 - rule_offset)
        starts = lo + (np.arange(STARTS) + 0.5) * (hi - lo) / STARTS if hi > lo else np.array([lo])
        vel = np.zeros(1) if still else VELOCITIES
        pos, v = np.repeat(starts, len(vel)), np.tile(vel, len(starts))
        alive = follow_axis(pos, v, box, rule_offset)
        if not len(alive):
            continue
        pos, v = pos[alive], v[alive]
        for _ in range(len(box) - 1):  # to the last context frame
            pos, v = move(pos, v)
        evidence = p * len(pos) / (len(starts) * len(vel)) * max(hi - lo, 1.0 / STARTS)
        keep = np.linspace(0, len(pos) - 1, min(len(pos), MAX_STATES)).astype(np.int64)  # a spread-out subset
        parts.append((pos[keep], v[keep], offset, evidence))
    return parts
