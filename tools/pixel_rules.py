"""Where the rounded-positions penalty comes from (issue 27): the same sequences drawn with truncated and with
rounded positions, split and rolled out three ways.

    python -m tools.pixel_rules --sequences 100 --seed 11 [--experts any-speed]

Same seed -> the same digits and float tracks under either rule (`predictor.moving_mnist.draws` + `bounce`), so the
two columns differ only where rounding moves a digit by a pixel: at the walls (interior positions are the truncated
track shifted by half a pixel). Per rule it prints

- the split of each context (`predictor.separate.split_digits`): the share usable, the mean share unexplained, how
  many layers keep one constant offset to a digit's true track (locked), the leftover's mean share of the ink;
- MSE per frame (frames 1..horizon ahead, mean and per step) of: `whole` the network on whole frames; `split` the
  default's layered rollout (the split's layers and leftover, each rolled out alone, combined with `np.maximum`);
  `true layers` the same rollout given each digit drawn alone in place of the split: a perfect split.

If `true layers` loses as much to rounding as `split`, the split is not what loses it; `wall_rests` says what does:
a digit rests a frame at the far wall (position 36) only under rounding, never when truncated. It also prints how
often the split's tracks tell the rule that drew them (`predictor.pixel_rule`), which the default's rule expert uses.
"""

from __future__ import annotations

import argparse

import numpy as np

from predictor.loading import load_predictor
from predictor.metrics import mse_per_frame
from predictor.moving_mnist import PIXEL_RULES, bounce, draw, draws
from predictor.pixel_rule import context_rule
from predictor.separate import leftover, split_digits
from train.evaluate import add_sequence_flags, check_sequence_flags


def wall_rests(pos: np.ndarray) -> dict:
    """Drawn tracks `pos (..., T, 2)` int in [0, 36] -> how many frames, per axis and digit, a digit stays where it
    was at the near wall (0) and at the far wall (36): {"near": int, "far": int}. Truncated positions never rest at
    the far wall (a float position reaches 36 only when clamped there, and is drawn 35 just before); rounded ones
    rest there as often as at the near wall, a stop the networks trained on truncated tracks never saw."""
    still = np.diff(pos, axis=-2) == 0
    return {"near": int((still & (pos[..., 1:, :] == 0)).sum()), "far": int((still & (pos[..., 1:, :] == 36)).sum())}


def split_stats(frames: np.ndarray, pos: np.ndarray, rule: str) -> dict:
    """`frames (n, T, 64, 64)` in [0, 1] drawn with `rule`, true tracks `pos (n, D, T, 2)` -> {"usable",
    "unexplained", "locked" (layers per context that follow a digit rigidly), "leftover", "told" (the usable
    contexts whose tracks tell `rule`, `predictor.pixel_rule.context_rule`), "mistold" (the other rule)} means over
    the contexts."""
    rows = []
    for f, p in zip(frames, pos):
        s = split_digits(f)
        rest = leftover(f, s.layers) if len(s.layers) else None
        locked = sum(any((tr - q == (tr - q)[0]).all() for q in p) for tr in s.tracks)
        rest_share = 0.0 if rest is None else float((rest**2).sum() / max((f**2).sum(), 1e-9))
        told = context_rule(s.tracks) if s.usable else None
        rows.append((s.usable, s.unexplained, locked, rest_share, told == rule, told not in (rule, None)))
    return dict(zip(("usable", "unexplained", "locked", "leftover", "told", "mistold"), np.mean(rows, axis=0)))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m tools.pixel_rules", description=__doc__.split("\n")[0])
    add_sequence_flags(p, sequences=100, seed=11, horizon=10, model=False)
    p.add_argument("--digits", type=int, default=2)
    p.add_argument("--experts", nargs="*", default=[], metavar="NAME", help="expert networks (default: none)")
    args = p.parse_args(argv)
    check_sequence_flags(p, args, digits=args.digits)
    n, c, h, d = args.sequences, args.context, args.horizon, args.digits
    whole = load_predictor("default", layers=0, experts=args.experts)
    layered = load_predictor("default", layers=2, experts=args.experts)
    chosen, start, vel = draws(n, d, rng=args.seed, split="val")
    report = {}
    for rule in PIXEL_RULES:
        pos = bounce(start, vel, c + h, rule)  # (n, D, T, 2)
        alone = np.stack([[draw(chosen[i, k][None], pos[i, k][None]) for k in range(d)] for i in range(n)])
        alone = alone.astype(np.float32) / 255  # (n, D, T, 64, 64): each digit drawn alone
        seqs = alone.max(axis=1)
        truth = seqs[:, c:].reshape(-1, 64, 64)
        true_layers = whole.predict_batch(alone[:, :, :c].reshape(n * d, c, 64, 64), h).reshape(n, d, h, 64, 64)
        runs = {"whole": whole.predict_batch(seqs[:, :c], h), "split": layered.predict_batch(seqs[:, :c], h),
                "true layers": true_layers.max(axis=1)}
        mse = {k: mse_per_frame(v.reshape(-1, 64, 64), truth).reshape(n, h).mean(axis=0) for k, v in runs.items()}
        report[rule] = {"split": split_stats(seqs[:, :c], pos[:, :, :c], rule), "mse": mse, "rests": wall_rests(pos)}
        s, r = report[rule]["split"], report[rule]["rests"]
        print(f"{rule}: split usable {s['usable']:.2f}, unexplained {s['unexplained']:.3f}, locked layers "
              f"{s['locked']:.2f} per context, leftover {s['leftover']:.3f} of the ink; rests at the near / far "
              f"wall {r['near']} / {r['far']} frames; the tracks tell the rule in {s['told']:.0%} of contexts, "
              f"the other rule in {s['mistold']:.1%}")
    for k in report[PIXEL_RULES[0]]["mse"]:
        a, b = (report[r]["mse"][k] for r in PIXEL_RULES)
        print(f"{k:12s} MSE {a.mean():6.1f} -> {b.mean():6.1f} ({b.mean() / a.mean() - 1:+.0%}); per step\n"
              + "".join(f"  {r:9s}" + " ".join(f"{x:6.1f}" for x in report[r]["mse"][k]) + "\n" for r in PIXEL_RULES))
    return report


if __name__ == "__main__":
    main()
