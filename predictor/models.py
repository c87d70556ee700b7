"""Model presets: the seed's ConvLSTM and the default streaming ConvLSTM.

- `seed`: the Keras example's model exactly (3x ConvLSTM2D 64 filters, kernels 5/3/1, relu, BatchNorm,
  Conv3D 3x3x3 sigmoid head, BCE, Adam). Its head sees frame t+1 when predicting t+1, so at inference it
  must re-run the whole growing sequence per new frame. `causal_head=True` pads time on the past side only.
- `streaming` (default): ConvLSTM cells on 4x4 space-to-depth patches (16x16x16 per frame) that step one
  frame at a time, with a `MotionHead` that moves pixels of the current frame. Strictly causal: the
  prediction of frame t+1 depends on frames <= t only, so a rollout carries the states and costs one
  step per new frame.

Both take frames `(B, T, 64, 64, 1) float32 in [0, 1]` and return `(B, T, 64, 64, 1)` for the seed model
(output t predicts frame t+1) or `(B, T-1, 64, 64, 1)` for the streaming one (predictions of frames 1..T-1).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from predictor.layers import PACKAGE, ConvLSTMCell, MotionHead, motion_cost, neighbourhoods, space_to_depth

PRESETS = ("streaming", "seed")


@keras.saving.register_keras_serializable(package=PACKAGE)
class StreamingConvLSTM(keras.Model):
    """Next-frame ConvLSTM that predicts frame t+1 from frames 0..t, one step at a time.

    `call(frames)` with frames `(B, T, 64, 64, 1)` in [0, 1] returns `(B, T-1, 64, 64, 1)`: the predictions
    of frames 1..T-1. Frames 0..context_frames-1 are read from the input (teacher forcing); after that, when
    `free_running` is on, the model reads its own previous prediction, so training sees the same
    free-running rollouts that inference does.
    """

    def __init__(self, filters=(32, 32), kernel_size=5, patch=4, window=9, hypotheses=2,
                 context_frames=10, free_running=True, motion_features=0, floor=0.0, **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(filters)
        self.kernel_size, self.patch, self.window, self.hypotheses = kernel_size, patch, window, hypotheses
        self.context_frames, self.free_running = context_frames, free_running
        self.motion_features = motion_features  # 0: no motion evidence input (the cells must infer motion alone)
        self.floor = float(floor)  # MotionHead's haze cut-off, see there
        self.cells = [ConvLSTMCell(f, kernel_size, name=f"cell{i}") for i, f in enumerate(self.filters)]
        self.head = MotionHead(patch, window, hypotheses, floor=self.floor, name="head")
        if motion_features:
            self.motion = layers.Conv2D(motion_features, 1, activation="relu", name="motion")

    def build(self, input_shape=None):
        side = 64 // self.patch
        cin = self.patch * self.patch + self.motion_features
        if self.motion_features:
            self.motion.build((None, side, side, self.window * self.window))
        for cell, f in zip(self.cells, self.filters):
            cell.build(((None, side, side, cin), None))
            cin = f
        self.head.build(((None, side, side, sum(self.filters)), (None, 64, 64, 1)))
        self.built = True

    def initial_state(self, batch_size):
        """Per cell `(h, c)` `(B, 16, 16, F)` zeros, then the previous frame `(B, 64, 64, 1)` (zeros)."""
        side = 64 // self.patch
        cells = [(ops.zeros((batch_size, side, side, f)), ops.zeros((batch_size, side, side, f))) for f in self.filters]
        return cells + [ops.zeros((batch_size, 64, 64, 1))]

    def step(self, frame, states):
        """`frame (B, 64, 64, 1)` in [0, 1], states -> (prediction of the next frame, new states)."""
        *cell_states, previous = states
        x = space_to_depth(frame, self.patch)  # (B, 16, 16, 16)
        neighbours = neighbourhoods(frame, self.window)  # (B, 64, 64, 81)
        if self.motion_features:
            motion = self.motion(motion_cost(neighbours, previous, self.patch))  # (B, 16, 16, M)
            x = ops.concatenate([x, motion], axis=-1)
        new_states, feats = [], []
        for cell, state in zip(self.cells, cell_states):
            x, c = cell((x, state))  # (B, 16, 16, F)
            new_states.append((x, c))
            feats.append(x)
        pred = self.head((ops.concatenate(feats, axis=-1), frame, neighbours))
        return pred, new_states + [frame]

    def call(self, frames, training=None):
        steps = frames.shape[1] - 1
        states = self.initial_state(ops.shape(frames)[0])
        preds, pred = [], None
        for t in range(steps):
            own = self.free_running and t >= self.context_frames and pred is not None
            pred, states = self.step(pred if own else frames[:, t], states)
            preds.append(pred)
        return ops.stack(preds, axis=1)

    def get_config(self):
        return {
            **super().get_config(), "filters": list(self.filters), "kernel_size": self.kernel_size,
            "patch": self.patch, "window": self.window, "hypotheses": self.hypotheses,
            "context_frames": self.context_frames, "free_running": self.free_running,
            "motion_features": self.motion_features, "floor": self.floor,
        }


def build_streaming_model(filters=(32, 32), kernel_size=5, context_frames=10, motion_features=0, floor=0.0,
                          **kwargs) -> StreamingConvLSTM:
    model = StreamingConvLSTM(filters=filters, kernel_size=kernel_size, context_frames=context_frames,
                              motion_features=motion_features, floor=floor, **kwargs)
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
    if preset == "streaming":
        return build_streaming_model(**kwargs)
    if preset == "seed":
        return build_seed_model(**kwargs)
    raise ValueError(f"preset must be one of {PRESETS}. Received: preset={preset!r}")
