"""Roll a model out while telling it each digit's true next whole-pixel step: what knowing the step is worth.

An upper bound for any fix of the step ambiguity, and how accurate a step predictor must be to pay
(docs/notes/training-log.md, "What knowing the step is worth").

    python -m tools.oracle --model default --sequences 64 --seed 11 --horizon 30 --strength 5 --accuracy 1 0.8 0.6

Sequences are the ones `train.evaluate --seed` draws (validation digits), with each digit's track kept
(`tools.steps.tracked_sequences`). At every
step of the rollout the head's displacement logits get `+strength` on the kernel entry that is right for the patch:
the offset its pixels came from, minus the step of the digit with the most ink there in the next frame. A share
`1 - accuracy` of the patches get it one pixel off instead. Strength 0 is the model as it is. The model itself is
unchanged: only its rollout is told the steps. `--only inertial` / `--only wall` tells only the steps that did not
/ did meet a wall (`tools.steps.wall_steps`); `--tracker` tells, instead of the truth, what a tracker reading
each digit's past steps from the frames alone expects (`tools.steps.Tracker`, strength times its probabilities).
`--digits 1` rolls out sequences of one digit: what the second one costs where two digits share patches.
"""

from __future__ import annotations

import argparse

import numpy as np
from keras import ops

from predictor.evaluation import evaluate
from predictor.loading import load_predictor
from predictor.predictor import as_frames
from predictor.rollout import Rollout
from train.evaluate import add_sequence_flags, check_sequence_flags
from tools.steps import SIDE, StepTable, Tracker, came_from, tracked_sequences, training_tracks, wall_maps


def one_pixel_off(index: np.ndarray, accuracy: float, rng: np.random.Generator, window: int = SIDE) -> np.ndarray:
    """`index` with a share `1 - accuracy` of its entries (>= 0) moved one pixel along y or x (within the window)."""
    dy, dx = np.divmod(index, window)
    wrong = (rng.random(index.shape) >= accuracy) & (index >= 0)
    axis = rng.random(index.shape) < 0.5
    sign = rng.choice([-1, 1], size=index.shape)
    dy = np.where(wrong & axis, np.clip(dy + sign, 0, window - 1), dy)
    dx = np.where(wrong & ~axis, np.clip(dx + sign, 0, window - 1), dx)
    return np.where(index >= 0, dy * window + dx, -1)


def told_step(model, frame, states, bias):
    """`model.step(frame, states)` with `bias (B, 16, 16, hypotheses * window**2)` added to the head's displacement
    logits: the model's own cells (`_advance`) and head (`MotionHead.parts` takes the bias as a fourth input), then
    its floor, as `step` applies it. Returns (prediction `(B, 64, 64, 1)` in [0, 1], new states)."""
    feats, neighbours, states = model._advance(frame, states)
    pred = model.head.parts((feats, frame, neighbours, bias))[0]
    floor = model.config.floor
    return (ops.relu(pred - floor) / (1.0 - floor) if floor else pred), states


class ToldModel:
    """A streaming model (`StreamingConvLSTM`) whose every step is told: `tell(t, frame)` gets each frame the loop
    gives it, `t` counting from 0, and returns `(B, 16, 16, window**2)` weights on the head's kernel entries (a
    one-hot of the right entry, or a tracker's probabilities; zeros: nothing told), added times `strength` to its
    displacement logits. `read`, `step` and `initial_state` as the model's, so `Rollout`'s loop runs it."""

    def __init__(self, model, tell, strength: float):
        self.model, self.tell, self.strength, self.config = model, tell, strength, model.config
        self.t = 0

    def initial_state(self, batch_size):
        self.t = 0  # a new rollout
        return self.model.initial_state(batch_size)

    def read(self, frame, states):
        self.tell(self.t, frame)  # a context frame whose prediction nobody looks at: a tracker still reads it
        self.t += 1
        return self.model.read(frame, states)

    def step(self, frame, states):
        told = self.tell(self.t, frame)
        self.t += 1
        bias = np.repeat(told[..., None, :], self.config.hypotheses, axis=-2) * self.strength  # (B, h, w, n, k2)
        return told_step(self.model, frame, states, bias.reshape(*bias.shape[:3], -1).astype(np.float32))


class ToldRollout(Rollout):
    """`Rollout`'s loop (`start`: read the context, predict the next frame; `go_on`: feed back the predictions) on a
    `ToldModel`. Run eagerly instead of compiled: what each step is told comes from NumPy (a tracker of the frames)."""

    def __init__(self, told: ToldModel):  # not Rollout.__init__: it compiles the loop and copies the model
        self.model = told
        self._start = [self._start_graph] * 2  # [a batch of one, a larger batch]: the same loop here
        self._go_on = [self._go_on_graph] * 2


class ToldPredictor:
    """A streaming predictor whose rollouts of `seqs` are told each step (`predict_batch` of all of them at once):
    the right kernel entries `targets` (`came_from`), or, given a `StepTable`, what a `Tracker` expects."""

    def __init__(self, predictor, targets: np.ndarray | None, strength: float, table: StepTable | None = None,
                 walls: np.ndarray | None = None):
        self.model, self.targets, self.strength, self.table = predictor.rollout_model, targets, strength, table
        self.walls = walls  # (N, T, 64, 64) `tools.steps.wall_maps`, for a table built with walls

    def predict_batch(self, context: np.ndarray, horizon: int) -> np.ndarray:
        """context `(N, C, 64, 64) uint8` (the N sequences `targets` was made for) -> `(N, horizon, 64, 64)` in
        [0, 1]."""
        n, k2, seen = len(context), self.model.config.window ** 2, len(context[0])
        tracker = Tracker(self.table, n) if self.table else None

        def tell(t, frame):
            if tracker:  # what it expects from the frames so far (from its own answers once they are predictions)
                walls = self.walls[:, t] if self.walls is not None else None
                return tracker.observe(ops.convert_to_numpy(frame)[..., 0], own=t >= seen, walls=walls)
            return (self.targets[:, t, ..., None] == np.arange(k2)).astype(np.float32)  # -1: nothing told

        rollout = ToldRollout(ToldModel(self.model, tell, self.strength))
        first, states, _ = rollout.start(as_frames(context, batched=True))  # (N, C, 64, 64, 1) in [0, 1]
        return ops.convert_to_numpy(rollout.go_on(first, states, horizon))[..., 0]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.oracle", description=__doc__.split("\n")[0])
    add_sequence_flags(ap, sequences=64, seed=11, horizon=30)
    ap.add_argument("--strength", type=float, nargs="+", default=[0.0, 5.0],
                    help="logit added on the told entry (0: the model as it is)")
    ap.add_argument("--accuracy", type=float, nargs="+", default=[1.0],
                    help="share of patches told the right step; the rest are told one pixel off")
    ap.add_argument("--only", choices=["all", "inertial", "wall"], default="all",
                    help="tell only the steps that did not / did meet a wall")
    ap.add_argument("--tracker", action="store_true",
                    help="tell what a tracker of the frames expects instead of the truth (tools.steps.Tracker)")
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
