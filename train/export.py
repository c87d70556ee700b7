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
    # A fresh, uncompiled copy drops the optimizer slots: the file is a third the size and loads faster.
    clean = model.__class__.from_config(model.get_config())
    if hasattr(clean, "build") and not clean.built:
        clean.build((None, None, 64, 64, 1))
    clean.set_weights(model.get_weights())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_save_model(clean, path)
    card = {
        "architecture": type(model).__name__ if training["preset"] == "streaming" else model.name,
        "config": model.get_config() if training["preset"] == "streaming" else {"preset": training["preset"]},
        "parameters": int(model.count_params()),
        "training": training,
    }
    atomic_write_text(card_path(path), json.dumps(card, indent=1))


def training_commands(training: dict) -> list[str]:
    """Every command that made a model, oldest first: those of the model it was warm-started from (its
    lineage, recursively), then its own first command and each `--resume`. Each is a string to run."""
    lineage = training.get("init_from") or {}
    earlier = training_commands(lineage["source_training"]) if lineage.get("source_training") else []
    own = [training["command"]] if training.get("command") else []
    return earlier + own + list(training.get("resumed_with") or [])
