"""Sweep the experts' routing thresholds (`CONSULT`, `MARGIN`, `EVIDENCE` in `predictor.predictor`) at the cost of
one rollout per network and part, with or without the speed rule (`own_speeds`, `OFF_MARGIN`).

    python -m tools.routing --model default --experts any-speed copy-last --seed 11 --sequences 60 \
        --consult 0.05 0.1 0.2 --margin 0.7 0.85 1.0 [--own-low 3.1 3.2 --own-high 3.75 --off-margin 1.2]

Every part of every context (`StreamingPredictor.rollout_layers`) is rolled out once by each network, with each
network's evidence error; any (consult, margin) setting is then a choice among those rollouts (by the predictor's own
rule, `predictor.predictor.choose`), so a grid costs what one setting costs. Select on a selection seed (11), never on
the reporting seed (7). Prints one table: MSE per frame (frames 1..horizon) per cell and setting, the mean over cells
last.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from predictor import load_predictor
from predictor.metrics import mse_per_frame
from predictor.moving_mnist import generate
from predictor.predictor import OFF_MARGIN, choose, speed_rule
from predictor.suite import CELL_NAMES, CELLS


def part_runs(predictor, contexts: np.ndarray, horizon: int, evidence: int):
    """Per context `(T, 64, 64) uint8` its parts, each rolled out by every network of `predictor`.

    Returns (owner `(P,)` context index of each part, errors `(P, K)` each network's evidence error on the part,
    frames `(P, K, horizon, 64, 64)` float32 in [0, 1], speeds `(P,)` px/frame (NaN: not one digit))."""
    owner, errors, frames, speeds = [], [], [], []
    for i, c in enumerate(contexts):
        parts, part_speeds = predictor._parts_and_speeds(c.astype(np.float32)[..., None] / 255.0)
        speeds.append(part_speeds)
        errs, runs = [], []
        for rollout in predictor.rollouts:
            first, states, error = rollout.start(parts, evidence)
            errs.append(np.asarray(error))
            runs.append(np.asarray(rollout.go_on(first, states, horizon))[..., 0])
        owner += [i] * len(parts)
        errors.append(np.stack(errs, 1))
        frames.append(np.stack(runs, 1))
    return np.asarray(owner), np.concatenate(errors), np.concatenate(frames), np.concatenate(speeds)


def sweep(predictor, cells, sequences: int, seed: int, settings, evidence: int, context=10, horizon=10,
          ranges=None) -> dict:
    """{cell name: {setting: MSE per frame}} over `settings`, a list of (consult, margin, own speeds (low, high)
    or None, off margin) (`predictor.predictor.speed_rule`); `ranges`: its experts' speed ranges, applied with a
    speed rule."""
    out = {}
    for cell in cells:
        seqs = generate(sequences, context + horizon, cell.digits, cell.speed, rng=seed, split="val",
                        pixel_rule=cell.pixel_rule)
        truth = seqs[:, context:].astype(np.float32) / 255.0
        owner, errors, frames, speeds = part_runs(predictor, seqs[:, :context], horizon, evidence)
        networks = [r.model is not None for r in predictor.rollouts]
        out[cell.name] = {}
        for setting in settings:
            consult, margin, own_speeds, off_margin = setting
            own, margins = speed_rule(speeds, own_speeds, networks, off_margin, margin,
                                      ranges if own_speeds else None)
            chosen = choose(errors, consult, margins, own)
            picked = frames[np.arange(len(frames)), chosen]  # (P, H, 64, 64)
            pred = np.zeros_like(truth)
            np.maximum.at(pred, owner, picked)
            mse = mse_per_frame(pred.reshape(-1, 64, 64), truth.reshape(-1, 64, 64)).mean()
            out[cell.name][setting] = float(mse)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.routing", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--layers", type=int, default=None, help="digit layers (default: the card's)")
    ap.add_argument("--experts", nargs="+", default=["any-speed", "copy-last"])
    ap.add_argument("--cells", nargs="+", choices=CELL_NAMES, default=list(CELL_NAMES))
    ap.add_argument("--sequences", type=int, default=60)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--evidence", type=int, nargs="+", default=[4])
    ap.add_argument("--consult", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    ap.add_argument("--margin", type=float, nargs="+", default=[0.7, 0.85, 1.0])
    ap.add_argument("--own-low", type=float, nargs="+", default=[], help="own speeds' low ends (px/frame), each "
                    "with each --own-high and --off-margin, beside no speed rule (`predictor.predictor.speed_rule`)")
    ap.add_argument("--own-high", type=float, nargs="+", default=[3.75])
    ap.add_argument("--off-margin", type=float, nargs="+", default=[OFF_MARGIN])
    ap.add_argument("--expert-speeds", nargs=3, action="append", default=[], metavar=("NAME", "LOW", "HIGH"),
                    help="an expert that may only take digit layers at LOW-HIGH px/frame, in every row but the "
                         "first (no speed rule); repeat for more experts")
    args = ap.parse_args(argv)
    if args.seed == 7:
        ap.error("seed 7 is the reporting seed: select on another (11)")
    p = load_predictor(args.model, layers=args.layers, experts=args.experts, cache=False)
    named = {name: (float(lo), float(hi)) for name, lo, hi in args.expert_speeds}
    if unknown := sorted(set(named) - set(args.experts)):
        ap.error(f"--expert-speeds names experts not in --experts {args.experts}: {unknown}")
    ranges = [None] + [named.get(name) for name in args.experts]
    cells = [c for c in CELLS if c.name in args.cells]
    owns = [(lo, hi) for lo in args.own_low for hi in args.own_high]
    rules = [(None, None)] + list(itertools.product(owns, args.off_margin))  # without a speed rule, then each
    settings = [(c, m, own, off) for c, m in itertools.product(args.consult, args.margin) for own, off in rules]
    for evidence in args.evidence:
        result = sweep(p, cells, args.sequences, args.seed, settings, evidence, ranges=ranges)
        print(f"\nevidence {evidence} frames; {args.model} layers={p.layers} experts={args.experts} "
              f"expert speeds {named or 'any'}; "
              f"{args.sequences} sequences per cell, seed {args.seed}")
        print("| consult | margin | own speeds | off margin | " + " | ".join(c.name for c in cells) + " | mean |")
        print("|---|---|---|---|" + "---:|" * (len(cells) + 1))
        for s in settings:
            row = [result[c.name][s] for c in cells]
            own = "–" if s[2] is None else f"{s[2][0]:g}–{s[2][1]:g}"
            print(f"| {s[0]:g} | {s[1]:g} | {own} | {'–' if s[3] is None else f'{s[3]:g}'} | "
                  + " | ".join(f"{v:.1f}" for v in row) + f" | {np.mean(row):.1f} |")


if __name__ == "__main__":
    main()
