"""Atomic per-epoch checkpoints and resume state for `python -m train`.

A checkpoint is two files in the run directory:
- `ckpt-epoch-NNNN.keras`: the model with its optimizer state, written to a temporary name then renamed;
- `state.json`: the last finished epoch, the checkpoint's file name, callback state, the learning rate and
  the training time so far, also written to a temporary name then renamed.
`state.json` is replaced only after its model file is complete and names it, so a run killed at any moment
(even `kill -9`) leaves a consistent pair behind; older model files are deleted afterwards.
"""

from __future__ import annotations

import glob
import json
import os
import time

import keras

STATE = "state.json"


def recorded_command(module: str, argv=None) -> str:
    """`python -m <module> <args>` of the running command, as cards and reports record it."""
    import shlex
    import sys

    backend = keras.backend.backend()  # part of the recipe: a JAX run is reproduced under JAX
    prefix = "" if backend == "tensorflow" else f"KERAS_BACKEND={backend} "
    return f"{prefix}python -m {module} " + shlex.join(sys.argv[1:] if argv is None else argv)


def machine() -> str:
    """Where this command trains, for the card: Keras backend, accelerator (or CPU cores), e.g.
    "jax on 1x NVIDIA H200" or "tensorflow on CPU (2 cores)"."""
    backend = keras.backend.backend()
    devices = []
    if backend == "jax":
        import jax

        devices = [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    elif backend == "tensorflow":
        import tensorflow as tf

        devices = [tf.config.experimental.get_device_details(d).get("device_name", "GPU")
                   for d in tf.config.list_physical_devices("GPU")]
    elif backend == "torch":
        import torch

        devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    cores = len(os.sched_getaffinity(0))
    where = f"{len(devices)}x {devices[0]}" if devices else f"CPU ({cores} core{'s' if cores > 1 else ''})"
    return f"{backend} on {where}"


def atomic_write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_save_model(model: keras.Model, path: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}.keras"
    model.save(tmp)
    os.replace(tmp, path)


def trim_log(path: str, epochs: int) -> None:
    """Keep only the `log.csv` rows of epochs < `epochs` (0-based, as CSVLogger writes them).

    CSVLogger writes its row before the checkpoint is saved, so a run killed in between leaves a row for an
    epoch that `--resume` trains again; trimming keeps every epoch in the log exactly once.
    """
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    keep = lines[:1] + [ln for ln in lines[1:] if ln.strip() and int(float(ln.split(",", 1)[0])) < epochs]
    if keep != lines:
        atomic_write_text(path, "".join(keep))


def read_state(run_dir: str) -> dict | None:
    path = os.path.join(run_dir, STATE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model + optimizer and resumable state after every epoch; stops once `max_seconds` are spent."""

    def __init__(self, run_dir, stateful_callbacks, state=None, max_seconds=None):
        super().__init__()
        self.run_dir, self.stateful = run_dir, stateful_callbacks
        self.state = state or {"epoch": 0, "train_seconds": 0.0, "history": []}
        self.max_seconds = max_seconds

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self.state["train_seconds"] += time.time() - self._t0
        self.state["epoch"] = epoch + 1
        self.state["history"].append({k: float(v) for k, v in (logs or {}).items()} | {"epoch": epoch + 1})
        self.state["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.state["callbacks"] = {type(cb).__name__: callback_state(cb) for cb in self.stateful}
        name = f"ckpt-epoch-{epoch + 1:04d}.keras"
        atomic_save_model(self.model, os.path.join(self.run_dir, name))
        self.state["checkpoint"] = name
        atomic_write_text(os.path.join(self.run_dir, STATE), json.dumps(self.state, indent=1))
        for old in glob.glob(os.path.join(self.run_dir, "ckpt-epoch-*.keras")):
            if os.path.basename(old) != name:
                os.remove(old)
        if self.max_seconds is not None and self.state["train_seconds"] >= self.max_seconds:
            print(f"\nTime budget of {self.max_seconds / 60:.1f} min reached; stopping.")
            self.model.stop_training = True


_CALLBACK_FIELDS = ("wait", "best", "cooldown_counter", "stopped_epoch", "best_epoch")


def callback_state(cb) -> dict:
    return {k: float(getattr(cb, k)) for k in _CALLBACK_FIELDS if hasattr(cb, k)}


class RestoreCallbackState(keras.callbacks.Callback):
    """Puts EarlyStopping/ReduceLROnPlateau counters back after their own `on_train_begin` reset them."""

    def __init__(self, stateful_callbacks, saved: dict):
        super().__init__()
        self.stateful, self.saved = stateful_callbacks, saved

    def on_train_begin(self, logs=None):
        for cb in self.stateful:
            for k, v in self.saved.get(type(cb).__name__, {}).items():
                setattr(cb, k, int(v) if k != "best" else v)
