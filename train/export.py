"""Export a trained model as one inference `.keras` file (no optimizer) plus a JSON card beside it.

The card (`model.json` next to `model.keras`) holds architecture, parameter count and training facts;
`python -m train.evaluate --card` adds validation metrics to it. `predictor` reads it as the model's metadata.
"""

from __future__ import annotations

import json
import os

import keras

from predictor.card import sequences_seen, training_commands, training_stages  # noqa: F401  (re-exported: old name)
from predictor.loading import card_path
from train.checkpoint import atomic_save_model, atomic_write_text


def export_model(model: keras.Model, path: str, training: dict, rollout: dict | None = None) -> None:
    """Write `model` to `path` and its card beside it; `rollout`: the predictor's default options for it (e.g.
    `{"layers": 2}`: digit layers, `predictor.StreamingPredictor`), kept on the card, not in the model."""
    # A fresh, uncompiled copy drops the optimizer slots: the file is a third the size and loads faster. It is
    # built under the float32 policy, so a model trained with --precision mixed_bfloat16 exports as float32 (its
    # weights were float32 all along; only its computations were not).
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        config = model.get_config()
        clean = model.__class__.from_config({**config, "dtype": "float32"} if "dtype" in config else config)
        if hasattr(clean, "build") and not clean.built:
            clean.build((None, None, 64, 64, 1))
    finally:
        keras.config.set_dtype_policy(policy)
    clean.set_weights(model.get_weights())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_save_model(clean, path)
    card = {
        "architecture": type(model).__name__ if training["preset"] == "streaming" else model.name,
        "config": clean.get_config() if training["preset"] == "streaming" else {"preset": training["preset"]},
        "parameters": int(model.count_params()),
        "training": training,
        **({"rollout": rollout} if rollout else {}),
    }
    atomic_write_text(card_path(path), json.dumps(card, indent=1))


def lineage(source: str, card: dict, copied: int, variables: int) -> dict:
    """The `init_from` record of a model made from `source` (whose card is `card`): what was copied, and the source's
    training record (itself with any earlier lineage) and validation means."""
    return {"source": source, "variables_copied": copied, "variables": variables,
            "source_training": {k: v for k, v in card.get("training", {}).items() if k != "history"},
            "source_validation": card.get("validation", {}).get("model", {}).get("mean")}


def main(argv=None) -> str:
    """`python -m train.export --model default --digit-layers 2 --output out/layered.keras`: the same weights with
    other rollout options on the card (they hold no weights), as a new model whose card keeps the source as its
    lineage."""
    import argparse

    from predictor.loading import read_model, resolve
    from predictor.models import StreamingConvLSTM
    from train.checkpoint import machine, recorded_command

    ap = argparse.ArgumentParser(prog="python -m train.export", description=main.__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="bundled name, .keras path or hf://owner/repo")
    ap.add_argument("--digit-layers", "--layers", type=int, choices=[0, 2, 3], required=True,
                    help="the predictor's default: split the context into up to this many digit layers (a "
                         "hand-written tracker, predictor.separate) and roll each out alone; 0: the whole frames")
    ap.add_argument("--experts", nargs="+", default=[], metavar="NAME",
                    help="bundled streaming models the predictor may hand a context part to, where one of them "
                         "predicts that part's last context frames better (predictor.StreamingPredictor); "
                         "copy-last: the hand-written candidate that holds a still part's last frame")
    ap.add_argument("--own-speeds", nargs=2, type=float, metavar=("LOW", "HIGH"),
                    help="px/frame: a digit layer measured moving at these speeds stays the model's without asking "
                         "the experts, one moving at others goes to a network expert more easily "
                         "(predictor.predictor.speed_rule)")
    ap.add_argument("--expert-speeds", nargs=3, action="append", default=[], metavar=("NAME", "LOW", "HIGH"),
                    help="px/frame: network expert NAME only takes digit layers measured moving at these speeds "
                         "(one trained on fast digits only); needs --own-speeds; repeat for more experts")
    ap.add_argument("--expert-rules", nargs=2, action="append", default=[], metavar=("NAME", "RULE"),
                    help="network expert NAME was trained on digits drawn with pixel rule RULE (truncate, round): "
                         "it takes the digit layers at the own speeds of a context whose tracks show that rule "
                         "(predictor.pixel_rule), and no others; needs --own-speeds")
    ap.add_argument("--tracks", action="store_true",
                    help="draw each part that moves as the generator moves a digit where its possible tracks put it "
                         "(a hand-written reader, predictor.rigid) instead of rolling it out with a network")
    ap.add_argument("--output", required=True, help="the new .keras file (its card is written beside it)")
    args = ap.parse_args(argv)
    _, path = resolve(args.model)
    model, card = read_model(path)
    if not isinstance(model, StreamingConvLSTM):
        ap.error(f"--digit-layers needs a streaming model. Received: {type(model).__name__} from {args.model}")
    from predictor.loading import bundled_models, expert_models
    from predictor.rollout import COPY_LAST

    unknown = [e for e in args.experts if e not in bundled_models() and e != COPY_LAST]
    if unknown:
        ap.error(f"--experts takes bundled model names ({', '.join(bundled_models())}) or {COPY_LAST}. "
                 f"Received: {unknown}")
    expert_models({}, args.experts)  # each must load as a streaming model
    if args.own_speeds and not (args.experts and args.digit_layers):
        ap.error("--own-speeds routes digit layers between the model and its experts: it needs --digit-layers > 0 "
                 f"and --experts. Received: --digit-layers {args.digit_layers}, --experts {args.experts or 'none'}")
    if args.tracks and not args.digit_layers:
        ap.error("--tracks draws digit layers the split reads: it needs --digit-layers > 0")
    from predictor.predictor import check_expert_rules, check_expert_speeds, check_own_speeds

    try:
        own_speeds = check_own_speeds(args.own_speeds)
        ranges = check_expert_speeds({name: (lo, hi) for name, lo, hi in args.expert_speeds})
        rules = check_expert_rules(dict(args.expert_rules))
    except ValueError as e:
        ap.error(str(e))
    if rules and not own_speeds or set(rules) - (set(args.experts) - {COPY_LAST}) or set(rules) & set(ranges):
        ap.error(f"--expert-rules names network experts in --experts ({args.experts or 'none'}) without "
                 f"--expert-speeds (it takes own-speed layers only) and needs --own-speeds. Received: {sorted(rules)}")
    if ranges and not own_speeds or set(ranges) - (set(args.experts) - {COPY_LAST}):
        ap.error(f"--expert-speeds limits network experts named in --experts ({args.experts or 'none'}) and needs "
                 f"--own-speeds. Received: {sorted(ranges)}")
    rollout = {"layers": args.digit_layers, **({"tracks": True} if args.tracks else {}),
               **({"experts": args.experts} if args.experts else {}),
               **({"own_speeds": list(own_speeds)} if own_speeds else {}),
               **({"expert_speeds": {k: list(v) for k, v in ranges.items()}} if ranges else {}),
               **({"expert_rules": rules} if rules else {})}
    if args.experts:  # each expert's own training record, so the card says what every network was trained on
        rollout["expert_training"] = {name: read_model(resolve(name)[1])[1].get("training", {})
                                      for name in args.experts if name != COPY_LAST}
    export_model(model, args.output, rollout=rollout, training={
        "command": recorded_command("train.export", argv), "preset": "streaming", "sequences_seen": 0,
        "train_minutes": 0.0, "machines": [machine()],
        "init_from": lineage(args.model, card, len(model.weights), len(model.weights)),
    })
    print(f"Exported {args.output}: {args.model}'s weights, rollout layers={args.digit_layers}, "
          f"experts={args.experts or 'none'}, tracks={'drawn' if args.tracks else 'off'}"
          + (f", own speeds {own_speeds[0]:g}-{own_speeds[1]:g} px/frame" if own_speeds else ""))
    return args.output


if __name__ == "__main__":
    main()
