"""Model presets: the Keras example's ConvLSTM and the default streaming ConvLSTM.

- `keras-example` (formerly `seed`): the Keras example's model exactly (3x ConvLSTM2D 64 filters, kernels 5/3/1,
  relu, BatchNorm, Conv3D 3x3x3 sigmoid head, BCE, Adam). Its head sees frame t+1 when predicting t+1, so at
  inference it must re-run the whole growing sequence per new frame. `causal_head=True` pads time on the past side only.
- `streaming` (default): ConvLSTM cells on 4x4 space-to-depth patches (16x16x16 per frame) that step one
  frame at a time, with a `MotionHead` that moves pixels of the current frame. Strictly causal: the
  prediction of frame t+1 depends on frames <= t only, so a rollout carries the states and costs one
  step per new frame.

Both take frames `(B, T, 64, 64, 1) float32 in [0, 1]` and return `(B, T, 64, 64, 1)` for the seed model
(output t predicts frame t+1) or `(B, T-1, 64, 64, 1)` for the streaming one (predictions of frames 1..T-1).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import layers, ops

from predictor.layers import PACKAGE, ConvLSTMCell, MotionHead, motion_cost, neighbourhoods, space_to_depth

PRESETS = ("streaming", "keras-example")
PRESET_ALIASES = {"seed": "keras-example"}  # the Keras example's preset was named "seed" before


def preset_name(preset: str) -> str:
    """The preset's own name: one of `PRESETS`, or an alias of one (`PRESET_ALIASES`); else ValueError."""
    name = PRESET_ALIASES.get(preset, preset)
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS} (or {tuple(PRESET_ALIASES)}). Received: preset={preset!r}")
    return name


def option(default, help: str, **metadata):
    """A config field: its default and one line of help (which `python -m train` shows for its flag); further
    keywords (e.g. `type`, `nargs`) are how that flag parses."""
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


@dataclasses.dataclass(frozen=True)
class StreamingConfig:
    """Every option of `StreamingConvLSTM`, in one place: the model, its `get_config`, `build_streaming_model`
    and the flags of `python -m train` (see `train.config`) all read this."""

    filters: tuple[int, ...] = option((32, 32), "ConvLSTM widths, one cell each, on the (64/patch)^2 patch grid",
                                      type=int, nargs="+")
    kernel_size: int = option(5, "ConvLSTM kernel on that grid (5 cells = 20 pixels)")
    patch: int = option(4, "space-to-depth: each patch x patch block of pixels becomes one position's channels")
    window: int = option(9, "MotionHead: displacements within a window x window neighbourhood (9: up to 4 px)")
    hypotheses: int = option(2, "MotionHead: displacement distributions per patch (e.g. two digits crossing)")
    context_frames: int = option(10, "training: true frames read before a free-running model feeds on its own")
    free_running: bool = option(True, "training: 1 reads own predictions after the context frames, 0 true frames "
                                      "only (teacher forcing); with --resume it switches from then on",
                                type=int, choices=[0, 1])
    motion_features: int = option(0, "channels of frame-to-frame motion evidence fed to the cells (0: none, the "
                                     "cells infer motion from their memory)")
    floor: float = option(0.0, "output values below it become 0, the rest rescaled to [0, 1] (cuts the haze that "
                               "blurs rollouts); with --resume it replaces the checkpoint's floor")

    def __post_init__(self):
        object.__setattr__(self, "filters", tuple(int(f) for f in self.filters))

    @classmethod
    def from_dict(cls, d: dict) -> "StreamingConfig":
        """The options among `d`'s keys (other keys, e.g. Keras' own "name", are ignored; retired options must hold
        their old defaults: see `drop_retired`)."""
        d = drop_retired(dict(d))
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "filters": list(self.filters)}


OPTIONS = tuple(f.name for f in dataclasses.fields(StreamingConfig))
# Options no bundled model used, removed; files saved before carry them at these values, which are what the model does.
RETIRED = {"motion_history": 1, "memory_warp": 0.0}


def drop_retired(options: dict) -> dict:
    """`options` (changed in place) without the `RETIRED` keys; a retired option at another value is an error."""
    for key, default in RETIRED.items():
        if key in options and options.pop(key) != default:
            raise ValueError(f"{key} is no longer supported (only {default!r}, what every bundled model used). "
                             "Received a config that sets it otherwise")
    return options


@keras.saving.register_keras_serializable(package=PACKAGE)
class StreamingConvLSTM(keras.Model):
    """Next-frame ConvLSTM that predicts frame t+1 from frames 0..t, one step at a time.

    `call(frames)` with frames `(B, T, 64, 64, 1)` in [0, 1] returns `(B, T-1, 64, 64, 1)`: the predictions
    of frames 1..T-1. Frames 0..context_frames-1 are read from the input (teacher forcing); after that, when
    `free_running` is on, the model reads its own previous prediction, so training sees the same
    free-running rollouts that inference does. Options: a `StreamingConfig`, or its fields as keywords
    (which is how Keras' `from_config` passes them).
    """

    def __init__(self, config: StreamingConfig | None = None, **kwargs):
        drop_retired(kwargs)
        options = {k: kwargs.pop(k) for k in OPTIONS if k in kwargs}
        # Files exported before digit layers became a predictor option carry it in their config: it becomes the
        # layers their predictor uses unless told otherwise (`StreamingPredictor(layers=...)`).
        self.legacy_layers = int(kwargs.pop("digit_layers", 0) or 0)
        super().__init__(**kwargs)
        self.config = dataclasses.replace(config or StreamingConfig(), **options)
        c = self.config
        self.cells = [ConvLSTMCell(f, c.kernel_size, name=f"cell{i}") for i, f in enumerate(c.filters)]
        self.head = MotionHead(c.patch, c.window, c.hypotheses, name="head")
        if c.motion_features:
            self.motion = layers.Conv2D(c.motion_features, 1, activation="relu", name="motion")

    def reconfigure(self, **options) -> None:
        """Change options that hold no weights (`floor`, `free_running`, `context_frames`)."""
        fixed = set(options) - {"floor", "free_running", "context_frames"}
        if fixed:
            raise ValueError("Only floor, free_running and context_frames can change after building. "
                             f"Received: {fixed}")
        self.config = dataclasses.replace(self.config, **options)

    def for_rollouts(self, dtype: str) -> "StreamingConvLSTM":
        """A copy of this model to run rollouts on, the cells' and the head's convolutions computing in `dtype`,
        "float32" or "bfloat16" (a `predictor.runtime` setting, not saved with the model). In bfloat16 those
        convolutions hold their weights in bfloat16, cast once here instead of at every step as a mixed policy would
        (the same numbers, faster: docs/training.md); every other weight and op stays float32. This model is untouched,
        and what later changes in it (`reconfigure`, new weights) does not reach the copy."""
        if dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be float32 or bfloat16. Received: {dtype!r}")
        copy = StreamingConvLSTM(self.config, name=self.name)
        for layer in [cell.conv for cell in copy.cells] + [copy.head.kernels, copy.head.choice, copy.head.generate]:
            layer.dtype_policy = dtype  # before build: their variables are made in this dtype
        copy.build()
        copy.set_weights(self.get_weights())
        return copy

    def build(self, input_shape=None):
        c = self.config
        side = 64 // c.patch
        cin = c.patch * c.patch + c.motion_features
        if c.motion_features:
            self.motion.build((None, side, side, c.window * c.window))
        for cell, f in zip(self.cells, c.filters):
            cell.build(((None, side, side, cin), None))
            cin = f
        self.head.build(((None, side, side, sum(c.filters)), (None, 64, 64, 1)))
        self.built = True

    def initial_state(self, batch_size):
        """Per cell `(h, c)` `(B, 16, 16, F)` zeros, then the previous frame `(B, 64, 64, 1)` (zeros)."""
        c = self.config
        side, dtype = 64 // c.patch, self.compute_dtype  # bfloat16 under a mixed policy
        cells = [(ops.zeros((batch_size, side, side, f), dtype), ops.zeros((batch_size, side, side, f), dtype))
                 for f in c.filters]
        return cells + [ops.zeros((batch_size, 64, 64, 1), dtype)]

    def step(self, frame, states, explain: bool = False):
        """`frame (B, 64, 64, 1)` in [0, 1], states -> (prediction of the next frame in [0, 1], new states);
        with `explain`, also the head's kernels and choice (see `MotionHead.parts`).

        The prediction passes the `floor`: an uncertain displacement spreads a faint haze around every digit,
        and fed back frame after frame that haze grows and ruins SSIM (which scores flat black background as
        perfect), so values below the floor become 0 before the frame is fed back.
        """
        c = self.config
        feats, neighbours, new_states = self._advance(frame, states)
        pred, kernels, choice = self.head.parts((feats, frame, neighbours))
        if c.floor:
            pred = ops.relu(pred - c.floor) / (1.0 - c.floor)
        return (pred, new_states) + ((kernels, choice) if explain else ())

    def read(self, frame, states):
        """The new states after `frame`, as `step` gives them, without the prediction: for context frames whose
        predictions nobody looks at (the head is about half of a step's cost, and the states do not depend on it)."""
        return self._advance(frame, states)[2]

    def _advance(self, frame, states):
        """The cells' part of a step: (features `(B, 16, 16, sum(filters))`, `neighbourhoods(frame)`, new states)."""
        c = self.config
        cell_states, previous = states[:len(c.filters)], states[len(c.filters)]
        x = space_to_depth(frame, c.patch)  # (B, 16, 16, 16)
        neighbours = neighbourhoods(frame, c.window, c.patch)  # (B, 16, 16, 81, 16)
        if c.motion_features:
            evidence = motion_cost(neighbours, previous, c.patch)  # (B, 16, 16, 81): the last pair
            x = ops.concatenate([x, self.motion(evidence)], axis=-1)  # (B, 16, 16, M)
        new_states, feats = [], []
        for cell, state in zip(self.cells, cell_states):
            x, cs = cell((x, state))  # (B, 16, 16, F)
            new_states.append((x, cs))
            feats.append(x)
        return ops.concatenate(feats, axis=-1), neighbours, new_states + [frame]

    def call(self, frames, training=None):
        c = self.config
        states = self.initial_state(ops.shape(frames)[0])
        preds, pred = [], None
        for t in range(frames.shape[1] - 1):
            own = c.free_running and t >= c.context_frames and pred is not None
            pred, states = self.step(pred if own else frames[:, t], states)
            preds.append(pred)
        return ops.cast(ops.stack(preds, axis=1), "float32")  # float32 for the loss, also under mixed precision

    def get_config(self):
        return {**super().get_config(), **self.config.to_dict()}


def build_streaming_model(config: StreamingConfig | None = None, **options) -> StreamingConvLSTM:
    """A built `StreamingConvLSTM` from `config` (default options) with `options` (its field names) on top."""
    model = StreamingConvLSTM(config, **options)
    model.build((None, None, 64, 64, 1))
    return model


def build_seed_model(causal_head: bool = False) -> keras.Model:
    """The Keras example's model; with `causal_head` its Conv3D sees frames t-2..t instead of t-1..t+1."""
    inp = layers.Input(shape=(None, 64, 64, 1))
    x = inp
    for kernel in (5, 3):
        x = layers.ConvLSTM2D(64, kernel, padding="same", return_sequences=True, activation="relu")(x)
        x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(64, 1, padding="same", return_sequences=True, activation="relu")(x)
    if causal_head:
        x = layers.ZeroPadding3D(((2, 0), (1, 1), (1, 1)))(x)
        x = layers.Conv3D(1, 3, activation="sigmoid", padding="valid")(x)
    else:
        x = layers.Conv3D(1, 3, activation="sigmoid", padding="same")(x)
    return keras.Model(inp, x, name="seed_causal" if causal_head else "seed")


def build_model(preset: str = "streaming", **kwargs) -> keras.Model:
    """The `preset`'s model ("streaming", or "keras-example", also named "seed"), built with `kwargs`."""
    return build_streaming_model(**kwargs) if preset_name(preset) == "streaming" else build_seed_model(**kwargs)


def warm_start(model: keras.Model, source: keras.Model) -> list[str]:
    """Copy `source`'s weights into `model` where they fit; returns the paths of the variables copied.

    Variables are matched by their path inside the model (the models' own names may differ). Equal shapes are
    copied as they are. A wider `StreamingConvLSTM` (more filters per cell, more cells, motion features added)
    gets `source`'s weights embedded, net2net-style: every old unit keeps its weights, new units keep their
    fresh initialisation, and the weights from new units into old ones start at zero, so the grown model
    computes exactly what `source` did until training moves them. Variables `source` lacks keep their fresh
    initialisation; any other shape mismatch is an error.
    """
    inner = lambda v: v.path.split("/", 1)[-1]  # noqa: E731  "streaming_conv_lstm_1/cell0/..." -> "cell0/..."
    old = {inner(v): v for v in source.weights}
    grown = None
    copied = []
    for var in model.weights:
        src = old.get(inner(var))
        if src is None:
            continue
        value = keras.ops.convert_to_numpy(src)
        if tuple(src.shape) != tuple(var.shape):
            grown = grown if grown is not None else _growth_maps(source, model)
            value = _embed(value, keras.ops.convert_to_numpy(var), grown.get(inner(var).rsplit("/", 1)[0]), var.path)
        var.assign(value)
        copied.append(var.path)
    return copied


def _growth_maps(source, model) -> dict:
    """Per layer (path inside the model), where `source`'s input and output channels sit in `model`'s:
    `(input index array or None, output index array or None)`; None means the axis did not grow."""
    old, new = getattr(source, "config", None), getattr(model, "config", None)
    if not (isinstance(old, StreamingConfig) and isinstance(new, StreamingConfig)):
        return {}
    same = all(getattr(old, k) == getattr(new, k) for k in ("kernel_size", "patch", "window", "hypotheses"))
    wider = len(new.filters) >= len(old.filters) and all(n >= o for o, n in zip(old.filters, new.filters))
    if not (same and wider and new.motion_features >= old.motion_features):
        return {}
    pp, maps = old.patch * old.patch, {}
    if old.motion_features:
        maps["motion"] = (np.arange(old.window ** 2), np.arange(old.motion_features))
    x_old, x_new = pp + old.motion_features, pp + new.motion_features  # cell 0 reads pixels, then motion
    for i, (f_old, f_new) in enumerate(zip(old.filters, new.filters)):
        gates_in = np.concatenate([np.arange(x_old), x_new + np.arange(f_old)])  # conv over concat([x, h])
        gates_out = np.concatenate([gate * f_new + np.arange(f_old) for gate in range(4)])  # i, f, o, g blocks
        maps[f"cell{i}/gates"] = (gates_in, gates_out)
        x_old, x_new = f_old, f_new
    starts = np.cumsum([0, *new.filters[:-1]])  # the head reads concat(every cell's h)
    head_in = np.concatenate([start + np.arange(f) for start, f in zip(starts, old.filters)])
    maps.update({f"head/{part}": (head_in, None) for part in ("kernels", "choice", "generate")})
    return maps


def _embed(value: np.ndarray, fresh: np.ndarray, maps, path: str) -> np.ndarray:
    """`value` (a conv kernel `(k, k, in, out)` or a bias `(out,)`) placed into `fresh` at `maps`' indices;
    the entries from new inputs into old outputs are zeroed so the old units compute what they did."""
    in_map, out_map = maps if maps else (None, None)
    in_map = np.arange(value.shape[-2]) if in_map is None and value.ndim == 4 else in_map
    out_map = np.arange(value.shape[-1]) if out_map is None else out_map
    fits = (maps is not None and len(out_map) == value.shape[-1] and max(out_map) < fresh.shape[-1]
            and (value.ndim == 1 or (value.shape[:2] == fresh.shape[:2] and len(in_map) == value.shape[2])))
    if not fits:
        raise ValueError(f"Cannot warm-start {path}: shape {value.shape} in the source, {fresh.shape} in the new model")
    out = fresh.copy()
    if value.ndim == 1:
        out[out_map] = value
        return out
    new_inputs = np.ones(fresh.shape[2], bool)
    new_inputs[in_map] = False
    block = out[..., out_map]
    block[:, :, new_inputs] = 0.0
    out[..., out_map] = block
    out[:, :, in_map[:, None], out_map[None, :]] = value
    return out
