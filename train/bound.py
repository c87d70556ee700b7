"""What the task itself leaves uncertain: an exact reader of each digit's context, and the best prediction it allows.

A generator digit's track is fixed by its start and its direction (speed 3.6 px/frame; `moving_mnist.bounce`), and
ten context frames show it at ten whole-pixel positions. Those leave a small set of starts and directions possible;
this module finds that set by rejection sampling (candidates drawn around the true state, kept where their first
positions are the observed ones: the prior is uniform, so the kept ones sample the posterior) and reports

- how often the most likely future position is right, k frames ahead (the walls included: the reader knows where
  each digit's box is, which a model reads from the ink);
- the best possible prediction under MSE: the mean frame over the possible tracks, drawn with the true digits.

Both bound any predictor that perceives the context perfectly (which digit is where, and what it looks like), so
they say how much of a model's error is the task's and how much is the model's (docs/training.md, "What the task
leaves uncertain").

    python -m train.bound --sequences 128 --seed 11 --horizon 30
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from predictor.evaluation import evaluate
from predictor.moving_mnist import CANVAS, DIGIT, SPEED, bounce, draw, starts, tracks
from train.checkpoint import atomic_write_text, recorded_command
from train.evaluate import add_sequence_flags, check_sequence_flags

SPREAD = (1.2, 0.1)  # px, rad: the first window candidates are drawn in around the true start and direction


def possible_tracks(start: np.ndarray, vel: np.ndarray, observed: np.ndarray, horizon: int,
                    rng: np.random.Generator, candidates: int = 200_000) -> np.ndarray:
    """Tracks `(K, C + horizon, 2) int` of the starts and directions whose first C positions are `observed (C, 2)`.

    start `(2,)` px and vel `(2,)` px/frame: the true state, around which candidates are drawn (uniform, so the K
    kept sample the posterior). The window widens until none of the kept lies near its edge."""
    theta = np.arctan2(vel[0], vel[1])
    speed = float(np.hypot(*vel))
    px, rad = SPREAD
    limit = 8 * candidates  # for memory: bounce() holds (candidates, C, 2) int64
    for _ in range(8):
        pos = start + rng.uniform(-px, px, (candidates, 2))
        angle = theta + rng.uniform(-rad, rad, candidates)
        inside = ((pos >= 0) & (pos <= CANVAS - DIGIT)).all(-1)  # starts are uniform in [0, 36]: no clamping
        pos, angle = pos[inside], angle[inside]
        velocity = speed * np.stack([np.sin(angle), np.cos(angle)], -1)
        kept = (bounce(pos, velocity, len(observed)) == observed).all(axis=(1, 2))  # the future only for these
        near_edge = kept.any() and (np.abs(pos[kept] - start).max() > 0.9 * px
                                    or np.abs(angle[kept] - theta).max() > 0.9 * rad)
        enough = kept.sum() >= 20 or (candidates >= limit and kept.any())  # a rare state may keep few
        if enough and not near_edge:
            return bounce(pos[kept], velocity[kept], len(observed) + horizon)
        if near_edge:
            px, rad = 2 * px, 2 * rad
        elif candidates < limit:
            candidates *= 2
        else:
            break
    raise RuntimeError(f"No settled posterior for the track {observed.tolist()} (kept {kept.sum()}).")


def best_prediction(digits: np.ndarray, possible: list[np.ndarray], context: int, rng: np.random.Generator,
                    samples: int = 48) -> np.ndarray:
    """The posterior mean frames `(H, 64, 64) float32 in [0, 1]`: `samples` draws of every digit's possible track
    (`possible_tracks`, digits independent), drawn with the true `digits (D, 28, 28) uint8` and averaged."""
    picks = [p[rng.integers(0, len(p), samples), context:] for p in possible]  # D x (samples, H, 2)
    return np.mean([draw(digits, np.stack([p[s] for p in picks])) for s in range(samples)], axis=0) / 255.0


def position_right(possible: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """`(H,) bool`: whether the most likely position among `possible (K, H, 2)` is the true one `(H, 2)` per step."""
    right = []
    for k in range(len(truth)):
        where, count = np.unique(possible[:, k], axis=0, return_counts=True)
        right.append((where[count.argmax()] == truth[k]).all())
    return np.array(right)


class Bound:
    """`predict_batch` for `evaluate`: the best predictions made beforehand, in the order the sequences come."""

    def __init__(self, frames: np.ndarray):
        self.frames, self.done = frames, 0

    def predict_batch(self, context: np.ndarray, horizon: int) -> np.ndarray:
        out = self.frames[self.done : self.done + len(context), :horizon]
        self.done += len(context)
        return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m train.bound", description=__doc__.split("\n")[0])
    add_sequence_flags(ap, sequences=128, seed=11, horizon=30, model=False)
    ap.add_argument("--candidates", type=int, default=200_000, help="candidate states drawn per digit")
    ap.add_argument("--samples", type=int, default=48, help="possible tracks averaged into each best frame")
    ap.add_argument("--digits", type=int, choices=[1, 2], default=2, help="digits per sequence (as train.oracle's)")
    ap.add_argument("--json", help="write the report here, as `train.evaluate --json` does (for `train.curves`)")
    args = ap.parse_args(argv)
    check_sequence_flags(ap, args, samples=args.samples)
    if args.candidates < 1000:
        ap.error(f"--candidates must be >= 1000. Received: {args.candidates}")
    steps = args.context + args.horizon
    digits, pos = tracks(args.sequences, steps, args.digits, rng=args.seed, split="val")
    start, vel = starts(args.sequences, args.digits, SPEED, np.random.default_rng(args.seed))  # the same first draws
    rng = np.random.default_rng(0)
    right, kept, best = [], [], []
    for i in range(args.sequences):
        possible = [possible_tracks(start[i, d], vel[i, d], pos[i, d, : args.context], args.horizon, rng,
                                    args.candidates) for d in range(args.digits)]
        right += [position_right(p[:, args.context:], pos[i, d, args.context:]) for d, p in enumerate(possible)]
        kept += [len(p) for p in possible]
        best.append(best_prediction(digits[i], possible, args.context, rng, args.samples))
    seqs = np.stack([draw(digits[i], pos[i]) for i in range(args.sequences)])
    report = evaluate(Bound(np.stack(best)), seqs, args.context, args.horizon, batch_size=args.sequences,
                      teacher_forced=False)
    right = np.mean(right, axis=0)
    print(f"{args.sequences} sequences of {args.digits} validation digits (seed {args.seed}), {args.context} -> "
          f"{args.horizon}; possible tracks per digit: median {int(np.median(kept))}, fewest {min(kept)}")
    print("most likely position right, frames ahead " + " ".join(
        f"{k}: {right[k - 1]:.3f}" for k in (1, 2, 3, 5, 10, 20, 30) if k <= args.horizon))
    mean, windows = report["model"]["mean"], report["windows"]
    late = windows.get("21-30", {}).get("late_ratio", float("nan"))
    print(f"best prediction (posterior mean, true digits): MSE 1-10 {mean['mse']:.1f}  SSIM 1-10 {mean['ssim']:.3f}  "
          f"late 21-30 {late:.2f}  (empty frames: MSE 1-10 {report['empty']['mean']['mse']:.1f})")
    result = {"command": recorded_command("train.bound", argv), "label": "best the context allows (train.bound)",
              "sequences": args.sequences, "seed": args.seed, "digits": args.digits, "context": args.context,
              "horizon": args.horizon, "position_right": [float(x) for x in right], **report}
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        atomic_write_text(args.json, json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
