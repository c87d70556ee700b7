"""How far a digit's past whole-pixel steps predict its next one, and what the walls cost.

Each axis of a generator digit's position is `floor(x0 + v t)` until it meets a wall, where it is clamped and that
velocity component flips (`predictor.moving_mnist.bounce`). So the last few steps tell where between two pixels
a digit is, and the next step is 3 or 4 pixels accordingly, except where a wall intervenes, which the steps alone
cannot foresee. This module counts both, over the generator's own tracks, and reads the same history from frames
alone (`Tracker`), to say how much of `tools.oracle`'s gain a model could get and what it would need to know
(docs/notes/training-log.md, "What the walls cost").

    python -m tools.steps --tracks 400000            # the bound: from the last k steps, with and without the walls
    python -m tools.steps --frames 32 --model default  # the tracker and the model, right how often (seed 11)

Steps are coded as one number in [0, 81): `(4 + dy) * 9 + (4 + dx)`, the order of the head's 9x9 kernel entries
read backwards (a step of s takes its pixels from offset -s: kernel entry `80 - code`).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.ndimage import uniform_filter

from predictor.moving_mnist import CANVAS, DIGIT, MAX_SPEED, SPEED, draw, tracks, trajectories

REACH = int(MAX_SPEED)  # px per axis a step may take (4: the generator's 3.6 px/frame, the default window's reach)
SIDE = 2 * REACH + 1  # steps per axis: the default head's window (9)
CODES = SIDE * SIDE  # step codes: the default head's kernel entries (81)
HISTORY = 9  # the steps ten context frames hold
NEAR = 5  # walls nearer than this (px, per axis, from the digit's 28x28 box) are told to a table built `with_walls`
INK = 0.3  # what counts as ink, of full brightness
CENTRE = 14.0  # MNIST centres each digit's mass in its box: its ink's is at 14.0 +- 0.3 px (training digits)


def step_codes(pos: np.ndarray) -> np.ndarray:
    """Positions `(..., T, 2) int` -> the steps between them, coded `(..., T-1) int` in [0, 81)."""
    s = np.diff(pos, axis=-2)
    return (REACH + s[..., 0]) * SIDE + REACH + s[..., 1]


WALL_CODES = (2 * NEAR + 2) ** 2


def box_walls(pos: np.ndarray) -> np.ndarray:
    """Digits' boxes at top-left positions `pos (..., 2)` in [0, 36] -> `(...) int` in [0, WALL_CODES): per axis,
    the distance to the nearer wall, capped at NEAR, and which wall it is."""
    low, high = pos, CANVAS - DIGIT - pos
    code = np.minimum(np.minimum(low, high), NEAR) * 2 + (low > high)
    return code[..., 0] * (2 * NEAR + 2) + code[..., 1]


def wall_steps(pos: np.ndarray) -> np.ndarray:
    """Positions `(..., T, 2)` -> `(..., T-1) bool`: the step met a wall (a velocity component flipped sign, or the
    digit ended at an edge), so its history could not tell it."""
    s = np.diff(pos, axis=-2)
    before = np.concatenate([s[..., :1, :], s[..., :-1, :]], axis=-2)
    edge = (pos[..., 1:, :] == 0) | (pos[..., 1:, :] == CANVAS - DIGIT)
    return ((s * before) < 0).any(-1) | edge.any(-1)


def tracked_sequences(n: int, seq_len: int, seed: int, split: str = "val", digits: int = 2):
    """`generate(n, seq_len, digits, rng=seed, split=split)`'s sequences `(n, T, 64, 64) uint8`, with each digit's
    own frames `(n, D, T, 64, 64) uint8` and top-left positions `(n, D, T, 2) int` (`moving_mnist.tracks`)."""
    chosen, pos = tracks(n, seq_len, digits, rng=seed, split=split)
    alone = np.stack([[draw(chosen[i, d][None], pos[i, d][None]) for d in range(digits)] for i in range(n)])
    return alone.max(axis=1), alone, pos  # the generator combines digits with np.maximum too


def came_from(alone: np.ndarray, pos: np.ndarray, window: int = SIDE, patch: int = 4, only: str = "all") -> np.ndarray:
    """Per patch of frame t+1, the head's kernel entry that is right there: the offset of frame t its pixels came
    from (see `predictor.layers.displacement_offsets`), minus the step of the digit with the most ink in the
    patch; -1 where there is no ink or the step is beyond the window, and with `only="inertial"` / `"wall"` also
    where that digit's step did / did not meet a wall. `(n, T-1, 64/p, 64/p) int`."""
    n, d, t = alone.shape[:3]
    side = 64 // patch
    ink = alone[:, :, 1:].reshape(n, d, t - 1, side, patch, side, patch).mean(axis=(4, 6)) / 255.0
    steps = pos[:, :, 1:] - pos[:, :, :-1]  # (n, d, T-1, 2)
    r = window // 2
    index = np.where((np.abs(steps) <= r).all(-1), (r - steps[..., 0]) * window + (r - steps[..., 1]), -1)
    owner = ink.argmax(axis=1)  # (n, T-1, side, side)
    if only != "all":
        index = np.where(wall_steps(pos) == (only == "wall"), index, -1)
    out = np.take_along_axis(np.broadcast_to(index[..., None, None], ink.shape), owner[:, None], axis=1)[:, 0]
    return np.where(ink.max(axis=1) > 0.05, out, -1)


class StepTable:
    """P(next step | the last k steps [and the walls]) counted over tracks: `probs(history, length)`."""

    def __init__(self, pos: np.ndarray, with_walls: bool = False, min_count: int = 3):
        """pos `(N, T, 2)` top-left positions of single digits (e.g. `trajectories(N, T, 1, ...)[:, 0]`); with
        walls, the next step is counted per `box_walls` too."""
        self.with_walls = with_walls
        codes, walls = step_codes(pos), box_walls(pos[:, 1:])
        self.tables = {}
        for k in range(1, HISTORY + 1):
            keys = np.concatenate([self._key(codes[:, t - k:t], walls[:, t - 1]) for t in range(k, codes.shape[1])])
            nxt = np.concatenate([codes[:, t] for t in range(k, codes.shape[1])])
            unique, inverse, count = np.unique(keys, return_inverse=True, return_counts=True)
            probs = np.zeros((len(unique), CODES), np.float32)
            np.add.at(probs, (inverse, nxt), 1.0)
            keep = count >= min_count  # a history seen once or twice says little
            self.tables[k] = (unique[keep], probs[keep] / count[keep, None])

    def _key(self, history, walls):
        place = np.uint64(CODES) ** np.arange(history.shape[-1], dtype=np.uint64)[::-1]
        key = (history.astype(np.uint64) * place).sum(-1)
        if not self.with_walls:
            return key  # < 81**9 < 2**64: exact
        # 81**9 x 144 wall codes overflows 64 bits: wrapping makes it a hash, and a collision among the ~10**6
        # keys a table holds has odds of about 10**-7
        return key * np.uint64(WALL_CODES) + walls.astype(np.uint64)

    def probs(self, history: np.ndarray, length: np.ndarray, walls: np.ndarray | None = None):
        """history `(..., HISTORY)` step codes (oldest first), length `(...)` how many of the newest are real,
        walls `(...)` (`box_walls`, tables built `with_walls`) -> (`(..., 81)` probabilities of the next step,
        `(...)` bool whether any suffix of the history was seen). The longest seen suffix answers."""
        out = np.zeros((*history.shape[:-1], CODES), np.float32)
        found = np.zeros(history.shape[:-1], bool)
        for k in range(HISTORY, 0, -1):
            todo = ~found & (length >= k)
            if not todo.any():
                continue
            key = self._key(history[todo][:, -k:], None if walls is None else walls[todo])
            unique, probs = self.tables[k]
            i = np.clip(np.searchsorted(unique, key), 0, len(unique) - 1)
            hit = unique[i] == key
            where = np.flatnonzero(todo)[hit]
            out.reshape(-1, CODES)[where] = probs[i[hit]]
            found.reshape(-1)[where] = True
        return out, found


def history_bound(table: StepTable, pos: np.ndarray, ahead: int = 10) -> list[float]:
    """Share of next steps the table's best guess gets right, `ahead` steps in a row, each guess fed back as
    history (and, with walls, the digit moved by it): pos `(N, HISTORY + 1 + ahead, 2)`, single digits."""
    codes = step_codes(pos)
    history, where, right = codes[:, :HISTORY].copy(), pos[:, HISTORY].copy(), []
    for j in range(HISTORY, HISTORY + ahead):
        walls = box_walls(where) if table.with_walls else None
        guess = table.probs(history, np.full(len(pos), HISTORY), walls)[0].argmax(-1)
        right.append(float((guess == codes[:, j]).mean()))
        history = np.concatenate([history[:, 1:], guess[:, None]], axis=1)
        where = np.clip(where + np.stack([guess // SIDE, guess % SIDE], -1) - REACH, 0, CANVAS - DIGIT)
    return right


def _shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """`img (..., H, W)` moved by (dy, dx): out[q] = img[q - (dy, dx)], zeros coming in."""
    out = np.zeros_like(img)
    h, w = img.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = img[..., max(-dy, 0):h - max(dy, 0),
                                                                         max(-dx, 0):w - max(dx, 0)]
    return out


STEPS = [(dy, dx) for dy in range(-REACH, REACH + 1) for dx in range(-REACH, REACH + 1)]  # in code order


class Tracker:
    """The history read from frames alone, per pixel: each ink pixel's step is found by block matching (7x7 SSD
    against the previous frame), and its history is the history of the pixel it came from plus that step
    (a Lagrangian history: it travels with the digit). `observe(frame)` returns, per 4x4 patch of the *next*
    frame, a distribution over the head's 81 kernel entries: the table's next steps voted forward by ink.

    `observe(frame, own=True)` says the frame is the rollout's own prediction: its steps are then taken from the
    last answer (per patch, the most likely entry) instead of matched, since a blurred prediction matches badly.
    Given a table built `with_walls`, it also reads where the walls are: the pixels that took the same last step
    are taken for one digit, and their ink's centre of mass, which MNIST put at the centre of each digit's box,
    says where that box is (right for about 80% of the ink pixels: docs/notes/training-log.md, "What the walls cost").
    """

    def __init__(self, table: StepTable, n: int, ink: float = INK, box: int = 7):
        self.table, self.ink, self.box = table, ink, box
        self.previous, self.last = None, None
        self.history = np.zeros((n, CANVAS, CANVAS, HISTORY), np.int64)
        self.length = np.zeros((n, CANVAS, CANVAS), np.int64)

    def observe(self, frame: np.ndarray, own: bool = False, walls: np.ndarray | None = None) -> np.ndarray:
        """frame `(n, 64, 64)` float in [0, 1] -> `(n, 16, 16, 81)` per patch of the next frame, summing to 1
        where any ink votes, else 0. `walls` `(n, 64, 64)` (`wall_maps`, a table built `with_walls`): where
        each pixel's digit is, told rather than read."""
        n = len(frame)
        if self.previous is not None:
            if own:  # where nothing voted this gives code 80, a step of (4, 4) no digit takes: the table stays silent
                step = np.repeat(np.repeat(CODES - 1 - self.last.argmax(-1), 4, axis=1), 4, axis=2)
            else:
                cost = [uniform_filter((frame - _shifted(self.previous, dy, dx)) ** 2, size=(1, self.box, self.box),
                                       mode="constant") for dy, dx in STEPS]
                step = np.argmin(cost, axis=0)  # (n, 64, 64) step codes
            y, x = np.meshgrid(np.arange(CANVAS), np.arange(CANVAS), indexing="ij")
            sy = np.clip(y - (step // SIDE - REACH), 0, CANVAS - 1)  # where each pixel's ink came from
            sx = np.clip(x - (step % SIDE - REACH), 0, CANVAS - 1)
            b = np.arange(n)[:, None, None]
            self.history = np.concatenate([self.history[b, sy, sx, 1:], step[..., None]], axis=-1)
            carried = np.where(self.previous[b, sy, sx] > self.ink, self.length[b, sy, sx], 0)
            self.length = np.where(frame > self.ink, np.minimum(carried + 1, HISTORY), 0)
        self.previous = frame
        if walls is None and self.table.with_walls:
            walls = self.ink_walls(frame)
        probs, found = self.table.probs(self.history, self.length, walls)
        weight = np.where(found & (frame > self.ink), frame, 0.0)
        votes = np.zeros((n, CANVAS, CANVAS, CODES), np.float32)
        for code, (dy, dx) in enumerate(STEPS):  # a pixel at q stepping by s lands at q + s, taken from offset -s
            votes[..., CODES - 1 - code] = _shifted(probs[..., code] * weight, dy, dx)
        votes = votes.reshape(n, 16, 4, 16, 4, CODES).sum(axis=(2, 4))
        total = votes.sum(-1, keepdims=True)
        self.last = np.where(total > 0, votes / np.maximum(total, 1e-9), 0.0)
        return self.last

    def ink_walls(self, frame: np.ndarray, pixels: int = 15) -> np.ndarray:
        """`(n, 64, 64)` `box_walls` per pixel of the digit it belongs to: the ink pixels (>= `pixels` of them)
        whose last step was the same, in a box centred on their ink's centre of mass; the others are taken to be
        far from any wall. (Grouping by more steps splits digits: block matching misreads a step now and then.)"""
        out = np.full(frame.shape, box_walls(np.full(2, (CANVAS - DIGIT) // 2)), np.int64)
        for i, seen in enumerate((self.length > 0) & (frame > self.ink)):
            ys, xs = np.nonzero(seen)
            groups, which, count = np.unique(self.history[i, ..., -1][seen], return_inverse=True, return_counts=True)
            for g in np.flatnonzero(count >= pixels):
                y, x, w = ys[which == g], xs[which == g], frame[i, ys[which == g], xs[which == g]]
                centre = np.array([(w * y).sum(), (w * x).sum()]) / w.sum()
                out[i, y, x] = box_walls(np.clip(np.round(centre - CENTRE), 0, CANVAS - DIGIT).astype(int))
        return out


def wall_maps(alone: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Per pixel, the `box_walls` of its digit: `(n, T, 64, 64) int` from each digit's frames `alone (n, D, T,
    64, 64)` and positions `pos (n, D, T, 2)`; the digit with the most ink there, else the nearest box centre."""
    yx = np.stack(np.meshgrid(np.arange(CANVAS), np.arange(CANVAS), indexing="ij"), -1)  # (64, 64, 2)
    centre = pos[..., None, None, :] + DIGIT / 2  # (n, D, T, 1, 1, 2)
    owner = np.where(alone.max(1) > 0, alone.argmax(1), ((yx - centre) ** 2).sum(-1).argmin(1))
    codes = np.broadcast_to(box_walls(pos)[..., None, None], alone.shape)
    return np.take_along_axis(codes, owner[:, None], axis=1)[:, 0]


def training_tracks(n: int, seq_len: int = 20, seed: int = 12345) -> np.ndarray:
    """`(n, seq_len, 2)` single-digit generator tracks to count steps over (positions only, no digits)."""
    return trajectories(n, seq_len, 1, SPEED, np.random.default_rng(seed))[:, 0]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.steps", description=__doc__.split("\n")[0])
    ap.add_argument("--tracks", type=int, default=400_000, help="single-digit tracks the tables count (seed 12345)")
    ap.add_argument("--test-tracks", type=int, default=4000, help="tracks the bound is measured on (--seed)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--frames", type=int, default=0,
                    help="also run the frames-only tracker on this many validation sequences (frames 10-19)")
    ap.add_argument("--model", default=None, help="with --frames: how often this model's head is right, too")
    args = ap.parse_args(argv)
    if args.tracks < 100 or args.test_tracks < 1 or args.frames < 0:
        ap.error(f"--tracks must be >= 100, --test-tracks >= 1 and --frames >= 0. Received: {args.tracks}, "
                 f"{args.test_tracks}, {args.frames}")
    tracks = training_tracks(args.tracks)
    test = trajectories(args.test_tracks, HISTORY + 11, 1, SPEED, np.random.default_rng(args.seed))[:, 0]
    print(f"next 2-D step right, best guess from the last k steps ({args.tracks} tracks counted, "
          f"{args.test_tracks} measured, seed {args.seed})")
    print(f"{'k':>3} {'steps only':>10} {'+ walls':>8}")
    plain, walls = StepTable(tracks), StepTable(tracks, with_walls=True)
    codes, near = step_codes(test), box_walls(test[:, HISTORY])
    for k in (1, 3, 5, 7, 9):
        row = []
        for table in (plain, walls):
            guess = table.probs(codes[:, :HISTORY], np.full(len(test), k), near if table.with_walls else None)[0]
            row.append((guess.argmax(-1) == codes[:, HISTORY]).mean())
        print(f"{k:3d} {row[0]:10.3f} {row[1]:8.3f}")
    print("chained (each guess fed back), steps ahead 1 2 3 5 10:")
    for name, table in (("steps only", plain), ("+ walls", walls)):
        right = history_bound(table, test)
        print(f"{name:>10} " + " ".join(f"{right[i]:.3f}" for i in (0, 1, 2, 4, 9)))
    if args.frames:
        print(f"most likely kernel entry right, {args.frames} validation sequences (seed {args.seed}), frames 10-19,"
              f" patches with ink, all / inertial / wall steps:")
        for name, share in right_shares(plain, args.frames, args.seed, args.model).items():
            print(f"{name:>24} " + " ".join(f"{v:.3f}" for v in share))


def right_shares(table: StepTable, n: int, seed: int, model: str | None = None) -> dict[str, list[float]]:
    """How often the frames-only `Tracker` (and, given `model`, that model's first kernel, teacher-forced) puts
    its most likely entry on the right one (`came_from`), over frames 10-19 of `n` validation
    sequences: {name: [all, inertial, wall] shares of the patches with ink}."""
    seqs, alone, pos = tracked_sequences(n, 20, seed)
    truth = {only: came_from(alone, pos, only=only) for only in ("all", "inertial", "wall")}
    tracker, guesses = Tracker(table, n), {"frames-only tracker": []}
    if model:
        from keras import ops

        from predictor.loading import load_predictor
        from predictor.predictor import as_frames

        net = load_predictor(model).model
        frames, states, guesses[f"model {model}"] = as_frames(seqs, batched=True), net.initial_state(n), []
    for t in range(19):
        guesses["frames-only tracker"].append(tracker.observe(seqs[:, t] / 255.0).argmax(-1))
        if model:
            _, states, kernels, _ = net.step(frames[:, t], states, explain=True)
            guesses[f"model {model}"].append(ops.convert_to_numpy(kernels)[..., 0, :].argmax(-1))
    return {name: [float((np.stack(g[9:], 1) == truth[o][:, 9:])[truth[o][:, 9:] >= 0].mean()) for o in truth]
            for name, g in guesses.items()}


if __name__ == "__main__":
    main()
