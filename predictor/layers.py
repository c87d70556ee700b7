"""Serializable building blocks of the streaming model (no Lambda layers, so `.keras` files load with safe_mode).

Shapes use B = batch, H = W = 64 pixels, h = w = 64 / patch.
"""

from __future__ import annotations

import keras
from keras import layers, ops

PACKAGE = "predictor"


def space_to_depth(x, patch: int):
    """`(B, H, W, C)` -> `(B, H/p, W/p, p*p*C)`: each p x p pixel patch becomes one position's channels."""
    b, hgt, wid, c = ops.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
    x = ops.reshape(x, (b, hgt // patch, patch, wid // patch, patch, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (b, hgt // patch, wid // patch, patch * patch * c))


def depth_to_space(x, patch: int):
    """Inverse of `space_to_depth`: `(B, h, w, p*p*C)` -> `(B, h*p, w*p, C)`."""
    b, hgt, wid, cc = ops.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
    c = cc // (patch * patch)
    x = ops.reshape(x, (b, hgt, wid, patch, patch, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (b, hgt * patch, wid * patch, c))


def neighbourhoods(frame, window: int, patch: int):
    """`(B, 64, 64, 1)` -> `(B, h, w, window**2, patch**2)`: for every patch, the window x window neighbourhood
    (zeros past the edges, offsets row-major as `displacement_offsets`) of each of its pixels (row-major).

    Gathered from each patch's block and the blocks around it rather than by a convolution with an identity kernel
    per pixel: the same values at a fraction of the cost (this is in every step, for the head and the motion
    evidence alike)."""
    import numpy as np

    reach = -(-(window // 2) // patch)  # blocks around a patch its pixels' windows reach into
    span = 2 * reach + 1
    blocks = space_to_depth(ops.pad(frame, ((0, 0), (reach * patch,) * 2, (reach * patch,) * 2, (0, 0))), patch)
    h, w = frame.shape[1] // patch, frame.shape[2] // patch
    around = ops.concatenate([blocks[:, i : i + h, j : j + w] for i in range(span) for j in range(span)], axis=-1)
    # Offset (dy, dx) from pixel (a, b) of a patch reads the padded pixel (a + dy, b + dx) + reach * patch of the
    # patch's span x span blocks, which sits in `around` at block (y // patch, x // patch), pixel (y % p, x % p).
    dy, dx = displacement_offsets(window).T
    a, b = np.divmod(np.arange(patch * patch), patch)
    y, x = dy[:, None] + a[None] + reach * patch, dx[:, None] + b[None] + reach * patch
    index = ((y // patch) * span + x // patch) * patch * patch + (y % patch) * patch + x % patch
    gathered = ops.take(ops.transpose(around, (3, 0, 1, 2)), index.reshape(-1), axis=0)  # fastest on a leading axis
    return ops.reshape(ops.transpose(gathered, (1, 2, 3, 0)), (-1, h, w, window * window, patch * patch))


def motion_cost(neighbours, previous, patch: int):
    """Evidence for each displacement: `(B, h, w, window**2)` mean over each patch of previous(p) * current(p + d),
    from `neighbourhoods(current)` and `previous (B, 64, 64, 1)`.

    A digit that moved by d between the two frames lights up channel d of the patches it covers, which
    gives the ConvLSTM the motion directly instead of making it learn to match frames through its memory.
    """
    return ops.matmul(neighbours, space_to_depth(previous, patch)[..., None])[..., 0] / (patch * patch)


def displacement_offsets(window: int):
    """`(window**2, 2)` (dy, dx) offsets in the order of `neighbourhoods`' last axis (row-major)."""
    import numpy as np

    r = np.arange(window) - window // 2
    return np.stack(np.meshgrid(r, r, indexing="ij"), axis=-1).reshape(-1, 2)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvLSTMCell(layers.Layer):
    """One ConvLSTM step: `x (B, h, w, Cin)`, `(h, c) (B, h, w, F)` -> new `(h, c)`.

    Gates come from one convolution over `concat([x, h])`, as in Shi et al. 2015 (without peepholes).
    """

    def __init__(self, filters: int, kernel_size: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        # Forget-gate bias 1 so early training keeps its memory (Jozefowicz et al. 2015).
        bias = [0.0] * filters + [1.0] * filters + [0.0] * (2 * filters)
        self.conv = layers.Conv2D(
            4 * filters, kernel_size, padding="same", bias_initializer=keras.initializers.Constant(bias), name="gates"
        )

    def build(self, input_shape):
        x_shape, _ = input_shape
        self.conv.build((*x_shape[:-1], x_shape[-1] + self.filters))

    def call(self, inputs):
        x, (h, c) = inputs
        z = ops.cast(self.conv(ops.concatenate([x, h], axis=-1)), h.dtype)  # the conv may compute in bfloat16
        i, f, o, g = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, c

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MotionHead(layers.Layer):
    """Next frame as moved copies of the current one, plus freshly drawn pixels.

    From features `(B, h, w, F)` and the current frame `(B, 64, 64, 1)` in [0, 1] it predicts, per patch,
    `hypotheses` displacement distributions over a `window x window` neighbourhood (dynamic filters,
    De Brabandere et al. 2016) and, per pixel, a softmax choice between those moved copies and a generated
    image. Moving MNIST digits move rigidly by whole pixels, so a sharp distribution moves a digit with no
    blur, which is what keeps free-running rollouts crisp. Output `(B, 64, 64, 1)` in [0, 1].
    """

    def __init__(self, patch: int = 4, window: int = 9, hypotheses: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.patch, self.window, self.hypotheses = patch, window, hypotheses
        pp, k2 = patch * patch, window * window
        self.kernels = layers.Conv2D(hypotheses * k2, 3, padding="same", name="kernels")
        # Choice logits start biased towards the first moved copy, away from the generated image.
        choice_bias = ([2.0] + [0.0] * (hypotheses - 1) + [-2.0]) * pp
        self.choice = layers.Conv2D(
            pp * (hypotheses + 1), 3, padding="same", bias_initializer=keras.initializers.Constant(choice_bias),
            name="choice",
        )
        self.generate = layers.Conv2D(pp, 3, padding="same", name="generate")

    def build(self, input_shape):
        feat_shape, _ = input_shape
        for layer in (self.kernels, self.choice, self.generate):
            layer.build(feat_shape)

    def call(self, inputs):
        return self.parts(inputs)[0]

    def parts(self, inputs):
        """(next frame `(B, 64, 64, 1)`, kernels `(B, h, w, n, window**2)` softmax over displacements, choice
        `(B, 64, 64, n + 1)` softmax over the n moved copies and the generated image): what `predictor.explain`
        draws. Kernel entry j takes the pixel at offset `displacement_offsets(window)[j]`, so content moves by
        minus that offset."""
        feats, frame, *given = inputs  # optionally (feats, frame, neighbours[, a bias on the kernels' logits])
        p, k2, n = self.patch, self.window * self.window, self.hypotheses
        neighbours = given[0] if given else neighbourhoods(frame, self.window, p)
        logits = ops.cast(self.kernels(feats), feats.dtype)  # (B, h, w, n*k2); the convs may compute in bfloat16
        if len(given) > 1:  # e.g. tools.oracle's: what the rollout would be if the model knew each digit's step
            logits = logits + ops.cast(given[1], logits.dtype)
        h, w = feats.shape[1:3]
        patch_kernels = ops.softmax(ops.reshape(logits, (-1, h, w, n, k2)), axis=-1)  # one kernel per patch
        # Per patch, its pixels row-major: (B, h, w, p*p, n + 1) candidates and their weights, then one
        # depth_to_space (as few transposes as possible: they are much of a step's cost beside the convolutions).
        moved = ops.swapaxes(ops.matmul(patch_kernels, neighbours), -1, -2)  # every pixel of a patch by its kernel
        generated = ops.sigmoid(ops.cast(self.generate(feats), feats.dtype))[..., None]
        candidates = ops.concatenate([moved, generated], axis=-1)
        choice = ops.softmax(ops.reshape(ops.cast(self.choice(feats), feats.dtype), (-1, h, w, p * p, n + 1)), axis=-1)
        predicted = depth_to_space(ops.sum(choice * candidates, axis=-1), p)  # (B, 64, 64, 1)
        return predicted, patch_kernels, depth_to_space(ops.reshape(choice, (-1, h, w, p * p * (n + 1))), p)

    def get_config(self):
        return {**super().get_config(), "patch": self.patch, "window": self.window, "hypotheses": self.hypotheses}
