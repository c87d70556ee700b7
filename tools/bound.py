"""What the task itself leaves uncertain: an exact reader of each digit's context, and the best prediction it allows.

The reader is `predictor.bound` (the app draws its best prediction beside the model's); this command measures it
over many sequences:

- how often the most likely future position is right, k frames ahead (the walls included: the reader knows where
  each digit's box is, which a model reads from the ink);
- the best possible prediction under MSE: the mean frame over the possible tracks, drawn with the true digits.

Both bound any predictor that perceives the context perfectly (which digit is where, and what it looks like), so
they say how much of a model's error is the task's and how much is the model's (docs/notes/training-log.md, "What the
task leaves uncertain").

    python -m tools.bound --sequences 128 --seed 11 --horizon 30 [--pixel-rule round]
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from predictor.bound import CANDIDATES, best_prediction, position_right, possible_tracks
from predictor.evaluation import evaluate
from predictor.moving_mnist import PIXEL_RULES, bounce, draw, draws
from predictor.pixel_rule import RULE_WORDS
from train.checkpoint import atomic_write_text, recorded_command
from train.evaluate import add_sequence_flags, check_sequence_flags


class Bound:
    """`predict_batch` for `evaluate`: the best predictions made beforehand, in the order the sequences come."""

    def __init__(self, frames: np.ndarray):
        self.frames, self.done = frames, 0

    def predict_batch(self, context: np.ndarray, horizon: int) -> np.ndarray:
        out = self.frames[self.done : self.done + len(context), :horizon]
        self.done += len(context)
        return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.bound", description=__doc__.split("\n")[0])
    add_sequence_flags(ap, sequences=128, seed=11, horizon=30, model=False)
    ap.add_argument("--candidates", type=int, default=CANDIDATES, help="candidate states drawn per digit")
    ap.add_argument("--samples", type=int, default=48, help="possible tracks averaged into each best frame")
    ap.add_argument("--digits", type=int, choices=[1, 2], default=2, help="digits per sequence (as tools.oracle's)")
    ap.add_argument("--pixel-rule", choices=PIXEL_RULES, default="truncate",
                    help="the rule that draws the positions (round: the suite's rounded cell), known to the reader")
    ap.add_argument("--json", help="write the report here, as `train.evaluate --json` does (for `train.curves`)")
    args = ap.parse_args(argv)
    check_sequence_flags(ap, args, samples=args.samples)
    if args.candidates < 1000:
        ap.error(f"--candidates must be >= 1000. Received: {args.candidates}")
    steps = args.context + args.horizon
    digits, start, vel = draws(args.sequences, args.digits, rng=args.seed, split="val")  # what generate() draws
    pos = bounce(start, vel, steps, args.pixel_rule)
    rng = np.random.default_rng(0)
    right, kept, best = [], [], []
    for i in range(args.sequences):
        possible = [possible_tracks(start[i, d], vel[i, d], pos[i, d, : args.context], args.horizon, rng,
                                    args.candidates, args.pixel_rule) for d in range(args.digits)]
        right += [position_right(p[:, args.context:], pos[i, d, args.context:]) for d, p in enumerate(possible)]
        kept += [len(p) for p in possible]
        best.append(best_prediction(digits[i], possible, args.context, rng, args.samples))
    seqs = np.stack([draw(digits[i], pos[i]) for i in range(args.sequences)])
    report = evaluate(Bound(np.stack(best)), seqs, args.context, args.horizon, batch_size=args.sequences,
                      teacher_forced=False)
    right = np.mean(right, axis=0)
    print(f"{args.sequences} sequences of {args.digits} validation digits (seed {args.seed}, "
          f"{RULE_WORDS[args.pixel_rule]}), {args.context} -> {args.horizon}; possible tracks per digit: median "
          f"{int(np.median(kept))}, fewest {min(kept)}")
    print("most likely position right, frames ahead " + " ".join(
        f"{k}: {right[k - 1]:.3f}" for k in (1, 2, 3, 5, 10, 20, 30) if k <= args.horizon))
    mean, windows = report["model"]["mean"], report["windows"]
    late = windows.get("21-30", {}).get("late_ratio", float("nan"))
    print(f"best prediction (posterior mean, true digits): MSE 1-10 {mean['mse']:.1f}  SSIM 1-10 {mean['ssim']:.3f}  "
          f"late 21-30 {late:.2f}  (empty frames: MSE 1-10 {report['empty']['mean']['mse']:.1f})")
    result = {"command": recorded_command("tools.bound", argv), "label": "best the context allows (tools.bound)",
              "sequences": args.sequences, "seed": args.seed, "digits": args.digits, "pixel_rule": args.pixel_rule,
              "context": args.context, "horizon": args.horizon, "position_right": [float(x) for x in right], **report}
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        atomic_write_text(args.json, json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
