"""Predictors: a loaded model plus the right rollout procedure for it.

    p = load_predictor()                          # see predictor.loading
    future = p.predict(context, horizon=10)       # (10, 64, 64) float32 in [0, 1], free-running
    one_step = p.one_step(frames)                 # (T-1, 64, 64): teacher-forced predictions of frames 1..T-1
    why = p.explain(context, horizon=10)          # streaming models: what the head decided per predicted frame

Inputs are frames `(T, 64, 64)` or `(T, 64, 64, 1)`, either uint8 in [0, 255] or float in [0, 1].
`StreamingPredictor` carries the recurrent state (one step per frame); `SeedPredictor` runs the Keras example's
growing-sequence rollout on its model, `GenericSeedPredictor` the same on any other frames-to-frames Keras model.
"""

from __future__ import annotations

import keras
import numpy as np

try:
    import tensorflow as tf
except ModuleNotFoundError:  # training under KERAS_BACKEND=jax needs the models, not these predictors
    tf = None

from predictor import runtime
from predictor.separate import leftover, split_digits

MAX_HORIZON = 1000
MAX_LAYERS = 3  # digit layers a context may be split into (the tracker's cost grows with each)


def as_frames(frames, name: str = "context", batched: bool = False) -> np.ndarray:
    """Validate and convert to `(T, 64, 64, 1)` (or `(B, T, 64, 64, 1)` if `batched`) float32 in [0, 1]."""
    want = "(B, T, 64, 64[, 1])" if batched else "(T, 64, 64[, 1])"
    arr = np.asarray(frames)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be a numeric array of shape {want}. Received: dtype={arr.dtype}")
    if arr.ndim == (5 if batched else 4) and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != (4 if batched else 3) or arr.shape[-2:] != (64, 64):
        raise ValueError(f"{name} must have shape {want}. Received: shape={arr.shape}")
    if arr.shape[-3] < 1 or (batched and arr.shape[0] < 1):
        raise ValueError(f"{name} needs at least one frame. Received: shape={arr.shape}")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    else:
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values.")
        if arr.min() < 0.0 or arr.max() > 1.0:
            raise ValueError(
                f"{name} must be uint8 in [0, 255] or float in [0, 1]. "
                f"Received: dtype={arr.dtype}, range [{arr.min():.3g}, {arr.max():.3g}]"
            )
    return arr[..., None]


def check_horizon(horizon) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be an integer in [1, {MAX_HORIZON}]. Received: horizon={horizon!r}")
    return int(horizon)


class Predictor:
    """Common interface. `info` is the model card: architecture, parameters, training, validation metrics."""

    kind = "base"

    def __init__(self, model, info: dict | None = None, source: str = ""):
        self.model, self.info, self.source = model, dict(info or {}), source

    def predict(self, context, horizon: int = 10) -> np.ndarray:
        """Free-running rollout: context `(T, 64, 64[, 1])` -> `(horizon, 64, 64) float32` in [0, 1]."""
        return self.predict_batch(as_frames(context)[None], horizon)[0]

    def predict_batch(self, contexts, horizon: int = 10) -> np.ndarray:
        """Batched rollout: `(B, T, 64, 64[, 1])` -> `(B, horizon, 64, 64) float32` in [0, 1]."""
        x = as_frames(contexts, "contexts", batched=True)
        return np.clip(self._rollout(x, check_horizon(horizon))[..., 0], 0.0, 1.0)

    def one_step(self, frames) -> np.ndarray:
        """Teacher-forced: true frames `(T, 64, 64[, 1])`, T >= 2 -> `(T-1, 64, 64)`, prediction of frames 1..T-1."""
        x = as_frames(frames, "frames")
        if len(x) < 2:
            raise ValueError(f"one_step needs at least 2 frames. Received: shape={np.shape(frames)}")
        return np.clip(self._one_step(x[None])[0, ..., 0], 0.0, 1.0)

    def describe(self) -> dict:
        return {"kind": self.kind, "source": self.source, **self.info}


def check_layers(layers) -> int:
    """`layers` for `StreamingPredictor`: 0 (whole frames) or the most digit layers to split a context into."""
    if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)) or not 0 <= layers <= MAX_LAYERS:
        raise ValueError(f"layers must be an integer in [0, {MAX_LAYERS}] (0: roll out the whole frames). "
                         f"Received: layers={layers!r}")
    return int(layers)


class StreamingPredictor(Predictor):
    """For `StreamingConvLSTM`: carries the recurrent states, one model step per frame (O(T) rollout).

    `layers` (a rollout option, not part of the learned model): 0 rolls out the whole frames, as the model was
    trained; N > 0 first splits the context into up to N digit layers with a hand-written tracker
    (`predictor.separate`), rolls each out alone and combines them with `np.maximum`. Ink the layers leave
    unexplained is rolled out as one more layer (`predictor.separate.leftover`), so the split never erases it;
    contexts the split does not explain are rolled out whole. `None`: the model card's `rollout.layers` (or a
    legacy file's `digit_layers`), else 0. Rollouts run on
    `rollout_model`, the model's copy whose convolutions compute in `runtime.conv_dtype()` (`conv_dtype`: bfloat16
    where the CPU has it natively); `model` stays as loaded."""

    kind = "streaming"

    def __init__(self, model, info=None, source="", layers: int | None = None):
        super().__init__(model, info, source)
        if layers is None:
            layers = (self.info.get("rollout") or {}).get("layers", getattr(model, "legacy_layers", 0))
        self.layers = check_layers(layers)
        if tf is None or keras.backend.backend() != "tensorflow":
            raise RuntimeError("StreamingPredictor's rollout is a TensorFlow graph: it needs TensorFlow installed and "
                               f"KERAS_BACKEND=tensorflow. Received: backend={keras.backend.backend()!r}")
        self.conv_dtype = runtime.conv_dtype()
        self.rollout_model = model.for_rollouts(self.conv_dtype)
        # Compiled graphs for any batch size, T and horizon: the loops are tf.while_loops.
        frames, steps = tf.TensorSpec([None, None, 64, 64, 1], tf.float32), tf.TensorSpec([], tf.int32)
        self._rollout_fn = tf.function(self._rollout_graph, input_signature=[frames, steps])
        self._rollout_halves_fn = tf.function(self._rollout_halves_graph, input_signature=[frames, steps])
        self._one_step_fn = tf.function(self._one_step_graph, input_signature=[frames])

    def _rollout_graph(self, context, horizon):
        m = self.rollout_model
        states = m.initial_state(tf.shape(context)[0])
        for t in tf.range(tf.shape(context)[1] - 1):  # only the last context frame's prediction is needed
            states = m.read(context[:, t], states)
        pred, states = m.step(context[:, -1], states)
        out = tf.TensorArray(tf.float32, size=horizon)
        for i in tf.range(horizon):
            out = out.write(i, pred)
            if i + 1 < horizon:
                pred, states = m.step(pred, states)
        return tf.transpose(out.stack(), (1, 0, 2, 3, 4))

    def _rollout_halves_graph(self, context, horizon):
        """`_rollout_graph` on each half of the batch: two independent loops, whose ops TensorFlow runs side by
        side (with `runtime.use_rollout_threads`, one core each)."""
        half = (tf.shape(context)[0] + 1) // 2
        halves = (context[:half], context[half:])
        return tf.concat([self._rollout_graph(part, horizon) for part in halves], axis=0)

    def _one_step_graph(self, frames):
        m = self.rollout_model
        states = m.initial_state(tf.shape(frames)[0])
        out = tf.TensorArray(tf.float32, size=tf.shape(frames)[1] - 1)
        for t in tf.range(tf.shape(frames)[1] - 1):
            pred, states = m.step(frames[:, t], states)
            out = out.write(t, pred)
        return tf.transpose(out.stack(), (1, 0, 2, 3, 4))

    def _rollout(self, x, horizon):
        parts = [self._parts(c) for c in x]
        if all(len(p) == 1 for p in parts):
            return self._rollout_whole(x, horizon)
        # One batch: every split context's layers, and the whole frames of the others.
        rolled = self._rollout_whole(np.concatenate(parts), horizon)
        ends = np.cumsum([len(p) for p in parts])
        return np.stack([rolled[end - len(p) : end].max(axis=0) for p, end in zip(parts, ends)])

    def _rollout_whole(self, x, horizon):
        rollout = self._rollout_fn if len(x) == 1 else self._rollout_halves_fn
        return rollout(tf.constant(x), tf.constant(horizon, tf.int32)).numpy()

    def split(self, context):
        """This predictor's split of `context (T, 64, 64[, 1])` into digit layers (`predictor.separate.SplitDigits`),
        or None where it rolls out the whole frames (`layers=0`, one frame, or a split that is not usable)."""
        return self._split(as_frames(context))

    def rollout_layers(self, context) -> np.ndarray:
        """What a rollout of `context (T, 64, 64[, 1])` rolls out one by one: `(L, T, 64, 64) float32 in [0, 1]`,
        the digit layers and, where they leave ink unexplained, that ink as one more layer; `L = 1`: the whole
        frames."""
        return self._parts(as_frames(context))[..., 0]

    def _split(self, x):
        split = split_digits(x[..., 0], self.layers) if self.layers and len(x) >= 2 else None
        return split if split is not None and split.usable else None

    def _parts(self, x):
        """`x (T, 64, 64, 1)` -> `(L, T, 64, 64, 1)`: the layers to roll out one by one (see `rollout_layers`)."""
        split = self._split(x)
        if split is None:
            return x[None]
        rest = leftover(x[..., 0], split.layers)
        layers = split.layers if rest is None else np.concatenate([split.layers, rest[None]])
        return layers[..., None]

    def explain(self, context, horizon: int) -> dict:
        """A free-running rollout with what the head decided at every predicted frame.

        Returns {"inputs": `(H, 64, 64)` the frame each prediction moved pixels of (the last context frame,
        then its own predictions), "frames": `(H, 64, 64)` the predictions in [0, 1] (as `predict`),
        "motion": `(H, h, w, n, 2)` expected (dy, dx) motion of each patch's content per hypothesis (px),
        "sureness": `(H, h, w, n)` the largest displacement probability (1/window**2 = no idea, 1 = certain),
        "choice": `(H, 64, 64, n + 1)` per pixel the weight of each moved copy and of the generated image,
        "layers": how many digit layers were rolled out (1: the whole frames)}. With digit layers each layer is
        explained alone and combined as the prediction combines them: every pixel shows the layer that gives its
        value, every patch the layer with the most ink there.
        """
        x, horizon = as_frames(context), check_horizon(horizon)
        layers = self._parts(x)
        if len(layers) == 1:
            return {**self._explain(x, horizon), "layers": 1}
        parts = [self._explain(layer, horizon) for layer in layers]
        frames = np.stack([p["frames"] for p in parts])  # (L, H, 64, 64)
        pixel = frames.argmax(0)  # the layer each pixel's value comes from
        patch = self.model.config.patch
        h, w = 64 // patch, 64 // patch
        ink = frames.reshape(len(parts), horizon, h, patch, w, patch).sum((3, 5)).argmax(0)  # (H, h, w)
        pick = lambda key, owner: _per_owner(np.stack([p[key] for p in parts]), owner)  # noqa: E731
        return {"inputs": np.max([p["inputs"] for p in parts], axis=0), "frames": frames.max(0),
                "motion": pick("motion", ink), "sureness": pick("sureness", ink), "choice": pick("choice", pixel),
                "layers": len(parts)}

    def _explain(self, x, horizon: int) -> dict:
        """`explain`'s arrays for one context `x (T, 64, 64, 1)` rolled out whole."""
        from predictor.layers import displacement_offsets

        x = x[None]
        m = self.rollout_model
        offsets = tf.constant(-displacement_offsets(m.config.window), tf.float32)  # content moves by -offset
        states = m.initial_state(1)
        for t in range(x.shape[1] - 1):
            states = m.read(tf.constant(x[:, t]), states)
        frame, out = tf.constant(x[:, -1]), {k: [] for k in ("inputs", "frames", "motion", "sureness", "choice")}
        for _ in range(horizon):
            pred, states, kernels, choice = m.step(frame, states, explain=True)
            out["inputs"].append(frame[0, ..., 0])
            out["frames"].append(pred[0, ..., 0])
            out["motion"].append(tf.einsum("hwnk,kd->hwnd", kernels[0], offsets))
            out["sureness"].append(tf.reduce_max(kernels[0], axis=-1))
            out["choice"].append(choice[0])
            frame = pred
        return {k: np.stack([np.asarray(v) for v in vs]) for k, vs in out.items()}

    def _one_step(self, x):
        return self._one_step_fn(tf.constant(x)).numpy()


def _per_owner(stacked: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """`stacked (L, *owner.shape, ...)` -> `(*owner.shape, ...)`: at every position, the entry of layer `owner`."""
    index = owner.reshape(1, *owner.shape, *[1] * (stacked.ndim - owner.ndim - 1))
    return np.take_along_axis(stacked, index, axis=0)[0]


class SeedPredictor(Predictor):
    """For the Keras example's model: its head looks one frame ahead, so every new frame re-runs the
    whole growing sequence, exactly as the example does (O(T^2) rollout)."""

    kind = "seed"

    def _rollout(self, x, horizon):
        frames = x
        for _ in range(horizon):
            nxt = self.model.predict(frames, verbose=0)[:, -1:]
            frames = np.concatenate([frames, nxt], axis=1)
        return frames[:, x.shape[1] :]

    def _one_step(self, x):
        if self.model.name == "seed_causal":  # output t depends on frames <= t only: one pass is honest
            return self.model.predict(x[:, :-1], verbose=0)
        # The original head looks at frame t+1 when it outputs t, so only the last output of a prefix is an
        # honest prediction; there the head sees features t-1, t and zero padding. The ConvLSTM stack below it
        # is causal, so one pass gives every prefix's features, and the head runs once per 3-frame window.
        return self.one_step_by_prefixes(x) if x.shape[1] <= 2 else self._one_step_windows(x)

    def one_step_by_prefixes(self, x):
        """The example's way, one `predict` per prefix: `(B, T, 64, 64, 1)` -> `(B, T-1, 64, 64, 1)`."""
        return np.concatenate([self.model.predict(x[:, :t], verbose=0)[:, -1:] for t in range(1, x.shape[1])], axis=1)

    def _one_step_windows(self, x):
        stack = keras.Model(self.model.inputs, self.model.layers[-2].output)
        feats = stack.predict(x[:, :-1], verbose=0)  # (B, T-1, 64, 64, F) features of frames 0..T-2
        previous = np.concatenate([np.zeros_like(feats[:, :1]), feats[:, :-1]], axis=1)
        windows = np.stack([previous, feats, np.zeros_like(feats)], axis=2)  # (B, T-1, 3, 64, 64, F)
        b, t = windows.shape[:2]
        out = self.model.layers[-1](windows.reshape(b * t, *windows.shape[2:]))[:, 1]  # the middle of each window
        return np.asarray(out).reshape(b, t, *out.shape[1:])


def is_example_seed(model) -> bool:
    """True for the Keras example's network (`predictor.models.build_seed_model`): named "seed" or
    "seed_causal", a Conv3D head of kernel 3 over a ConvLSTM stack, the layout `SeedPredictor.one_step`'s
    shortcuts rely on (a single pass, or the head run once per 3-frame window)."""
    layers = getattr(model, "layers", None) or [None]
    head = layers[-1]
    return (getattr(model, "name", None) in ("seed", "seed_causal") and isinstance(head, keras.layers.Conv3D)
            and tuple(head.kernel_size) == (3, 3, 3))


class GenericSeedPredictor(SeedPredictor):
    """Any other Keras model mapping `(B, T, 64, 64, 1)` frames to next frames (output t predicts frame
    t + 1): the example's rollout, and a teacher-forced `one_step` with one pass per prefix, which assumes
    nothing about its layers."""

    def _one_step(self, x):
        return self.one_step_by_prefixes(x)


def check_frame_shapes(shape_in, shape_out) -> None:
    """Raise unless both shapes are `(batch, time, 64, 64, 1)` (batch and time may be None)."""
    ok = lambda s: isinstance(s, (tuple, list)) and len(s) == 5 and tuple(s[-3:]) == (64, 64, 1)  # noqa: E731
    if not (ok(shape_in) and ok(shape_out)):
        raise ValueError(
            "The model does not map 64x64 grey frames to 64x64 grey frames: expected input and output shape "
            f"(batch, time, 64, 64, 1). Received: input {shape_in}, output {shape_out}"
        )
