"""Roll a model out while telling it each digit's true next whole-pixel step: what knowing the step is worth.

An upper bound for any fix of the step ambiguity, and how accurate a step predictor must be to pay
(docs/training.md, "What knowing the step is worth").

    python -m train.oracle --model default --sequences 64 --seed 11 --horizon 30 --strength 5 --accuracy 1 0.8 0.6

Sequences are the ones `train.evaluate --seed` draws (validation digits), with each digit's track kept. At every
step of the rollout the head's displacement logits get `+strength` on the kernel entry that is right for the patch:
the offset its pixels came from, minus the step of the digit with the most ink there in the next frame. A share
`1 - accuracy` of the patches get it one pixel off instead. Strength 0 is the model as it is. The model itself is
unchanged: only its rollout is told the steps. `--only inertial` / `--only wall` tells only the steps that did not
/ did meet a wall (`train.steps.wall_steps`); `--tracker` tells, instead of the truth, what a tracker reading
each digit's past steps from the frames alone expects (`train.steps.Tracker`, strength times its probabilities).
`--digits 1` rolls out sequences of one digit: what the second one costs where two digits share patches.
"""

from __future__ import annotations

import argparse

import numpy as np
from keras import ops

from predictor.evaluation import evaluate
from predictor.loading import load_predictor
from predictor.moving_mnist import draw, tracks
from predictor.predictor import as_frames
from train.evaluate import add_sequence_flags, check_sequence_flags
from train.steps import StepTable, Tracker, training_tracks, wall_maps, wall_steps


def tracked_sequences(n: int, seq_len: int, seed: int, split: str = "val", digits: int = 2):
    """`generate(n, seq_len, digits, rng=seed, split=split)`'s sequences `(n, T, 64, 64) uint8`, with each digit's
    own frames `(n, D, T, 64, 64) uint8` and top-left positions `(n, D, T, 2) int` (`moving_mnist.tracks`)."""
    chosen, pos = tracks(n, seq_len, digits, rng=seed, split=split)
    alone = np.stack([[draw(chosen[i, d][None], pos[i, d][None]) for d in range(digits)] for i in range(n)])
    return alone.max(axis=1), alone, pos  # the generator combines digits with np.maximum too


def came_from(alone: np.ndarray, pos: np.ndarray, window: int = 9, patch: int = 4, only: str = "all") -> np.ndarray:
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


def one_pixel_off(index: np.ndarray, accuracy: float, rng: np.random.Generator, window: int = 9) -> np.ndarray:
    """`index` with a share `1 - accuracy` of its entries (>= 0) moved one pixel along y or x (within the window)."""
    dy, dx = np.divmod(index, window)
    wrong = (rng.random(index.shape) >= accuracy) & (index >= 0)
    axis = rng.random(index.shape) < 0.5
    sign = rng.choice([-1, 1], size=index.shape)
    dy = np.where(wrong & axis, np.clip(dy + sign, 0, window - 1), dy)
    dx = np.where(wrong & ~axis, np.clip(dx + sign, 0, window - 1), dx)
    return np.where(index >= 0, dy * window + dx, -1)


class ToldPredictor:
    """A streaming predictor whose rollouts of `seqs` are told each step (`predict_batch` of all of them at once):
    the right kernel entries `targets` (`came_from`), or, given a `StepTable`, what a `Tracker` expects."""

    def __init__(self, predictor, targets: np.ndarray | None, strength: float, table: StepTable | None = None,
                 walls: np.ndarray | None = None):
        self.model, self.targets, self.strength, self.table = predictor.rollout_model, targets, strength, table
        self.walls = walls  # (N, T, 64, 64) `train.steps.wall_maps`, for a table built with walls

    def predict_batch(self, context: np.ndarray, horizon: int) -> np.ndarray:
        """context `(N, C, 64, 64) uint8` (the N sequences `targets` was made for) -> `(N, horizon, 64, 64)`."""
        c = self.model.config
        n, k2, seen = len(context), c.window * c.window, len(context[0])
        frames = as_frames(context, batched=True)  # (N, C, 64, 64, 1) in [0, 1]
        states, preds, pred = self.model.initial_state(n), [], None
        tracker = Tracker(self.table, n) if self.table else None
        for t in range(seen + horizon - 1):
            frame = frames[:, t] if t < seen else pred
            if tracker:  # what it expects from the frames so far (from its own answers once they are predictions)
                walls = self.walls[:, t] if self.walls is not None else None
                told = tracker.observe(ops.convert_to_numpy(frame)[..., 0], own=t >= seen, walls=walls)
            else:
                told = (self.targets[:, t, ..., None] == np.arange(k2)).astype(np.float32)  # -1: nothing told
            bias = np.repeat(told[..., None, :], c.hypotheses, axis=-2) * self.strength  # (N, h, w, n, k2)
            pred, states = self.model.step(frame, states, logit_bias=bias.reshape(*bias.shape[:3], -1))
            if t >= seen - 1:
                preds.append(ops.convert_to_numpy(pred)[..., 0])
        return np.stack(preds, axis=1)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m train.oracle", description=__doc__.split("\n")[0])
    add_sequence_flags(ap, sequences=64, seed=11, horizon=30)
    ap.add_argument("--strength", type=float, nargs="+", default=[0.0, 5.0],
                    help="logit added on the told entry (0: the model as it is)")
    ap.add_argument("--accuracy", type=float, nargs="+", default=[1.0],
                    help="share of patches told the right step; the rest are told one pixel off")
    ap.add_argument("--only", choices=["all", "inertial", "wall"], default="all",
                    help="tell only the steps that did not / did meet a wall")
    ap.add_argument("--tracker", action="store_true",
                    help="tell what a tracker of the frames expects instead of the truth (train.steps.Tracker)")
    ap.add_argument("--walls", choices=["none", "told", "ink"], default="none",
                    help="with --tracker: where the walls are, told (from each digit's track) or read from its ink")
    ap.add_argument("--tracks", type=int, default=400_000, help="generator tracks the tracker's table counts")
    ap.add_argument("--digits", type=int, choices=[1, 2], default=2,
                    help="digits per sequence (1: what the second digit costs, where digits share patches)")
    args = ap.parse_args(argv)
    check_sequence_flags(ap, args)
    if args.tracks < 100:
        ap.error(f"--tracks must be >= 100. Received: {args.tracks}")
    predictor = load_predictor(args.model)
    c = predictor.model.config
    seqs, alone, pos = tracked_sequences(args.sequences, args.context + args.horizon, args.seed, digits=args.digits)
    truth = came_from(alone, pos, c.window, c.patch, args.only)
    table = StepTable(training_tracks(args.tracks), args.walls != "none") if args.tracker else None
    walls = wall_maps(alone, pos) if args.walls == "told" else None
    told = f"a tracker of the frames (walls: {args.walls})" if args.tracker else f"the true steps ({args.only})"
    print(f"{args.sequences} sequences of {args.digits} validation digits (seed {args.seed}), {args.context} -> "
          f"{args.horizon}, told {told}")
    print(f"{'strength':>8} {'accuracy':>8} {'MSE 1-10':>9} {'SSIM 1-10':>9} {'late 21-30':>10}")
    for strength in args.strength:
        for accuracy in args.accuracy if strength and not args.tracker else [1.0]:
            targets = None if table else one_pixel_off(truth, accuracy, np.random.default_rng(args.seed), c.window)
            rollout = ToldPredictor(predictor, targets, strength, table, walls)
            report = evaluate(rollout, seqs, args.context, args.horizon, batch_size=len(seqs), teacher_forced=False)
            late = report["windows"].get("21-30", {}).get("late_ratio", float("nan"))
            mean = report["model"]["mean"]
            print(f"{strength:8g} {accuracy:8.2f} {mean['mse']:9.1f} {mean['ssim']:9.3f} {late:10.2f}", flush=True)


if __name__ == "__main__":
    main()
