"""Reading a model card's training record (`model.json` beside `model.keras`, written by `train.export`).

A card's `training` dict holds one stage's facts (`command`, `resumed_with`, `machines`, `sequences_seen`, ...); a
model warm-started from another keeps that model's record under `init_from.source_training`, recursively. These
functions walk that lineage; they import nothing from `train`, so the app can read cards without the training code.
"""

from __future__ import annotations


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


def training_data(training: dict) -> list[str]:
    """What a model was trained on: each distinct `data_description` of its lineage, oldest first."""
    out = []
    for stage in training_stages(training):
        text = stage.get("data_description")
        if text and text not in out:
            out.append(text)
    return out
