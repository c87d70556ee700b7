"""Export a trained model as one inference `.keras` file (no optimizer) plus a JSON card beside it.

The card (`model.json` next to `model.keras`) holds architecture, parameter count and training facts;
`python -m train.evaluate --card` adds validation metrics to it. `predictor` reads it as the model's metadata.
"""

from __future__ import annotations

import json
import os

import keras

from predictor.loading import card_path
from train.checkpoint import atomic_save_model, atomic_write_text


def export_model(model: keras.Model, path: str, training: dict) -> None:
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
    }
    atomic_write_text(card_path(path), json.dumps(card, indent=1))


def training_stages(training: dict) -> list[dict]:
    """The training records of every stage that made a model, oldest first: those of the model it was
    warm-started from (its lineage, recursively), then its own."""
    lineage = training.get("init_from") or {}
    earlier = training_stages(lineage["source_training"]) if lineage.get("source_training") else []
    return earlier + [training]


def training_commands(training: dict, with_machines: bool = False) -> list[str]:
    """Every command that made a model, oldest first: each stage's first command and each `--resume`. Each is a
    string to run; `with_machines` puts a `# <machine>` line before the commands whose machine was recorded."""
    out = []
    for stage in training_stages(training):
        commands = ([stage["command"]] if stage.get("command") else []) + list(stage.get("resumed_with") or [])
        machines = list(stage.get("machines") or [])
        for i, command in enumerate(commands):
            if with_machines and i < len(machines):
                out.append(f"# {machines[i]}")
            out.append(command)
    return out


def sequences_seen(training: dict) -> int:
    """Training sequences over the whole lineage (each stage's own count; stages that did not record one add 0)."""
    return sum(int(stage.get("sequences_seen") or 0) for stage in training_stages(training))
