"""Frame metrics with OpenSTL's conventions, on frames `(T, 64, 64) float in [0, 1]`.

- MSE per frame: sum over the 64x64 pixels of the squared error (so one frame's value is in [0, 4096]);
- MAE per frame: sum over pixels of the absolute error;
- SSIM per frame (scikit-image, data_range 1) and PSNR per frame (dB, data_range 1, capped at 100 dB).
Each function returns a per-step array of shape `(T,)`; averaging over steps and sequences is the caller's.
"""

from __future__ import annotations

import keras
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

PSNR_CAP = 100.0  # identical frames would give +inf; a cap keeps averages finite


def _pair(pred, truth):
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    if pred.shape != truth.shape or pred.ndim != 3:
        raise ValueError(f"Expected two (T, H, W) arrays of one shape. Received: {pred.shape} and {truth.shape}")
    return pred, truth


def mse_per_frame(pred, truth) -> np.ndarray:
    pred, truth = _pair(pred, truth)
    return ((pred - truth) ** 2).sum(axis=(1, 2))


def mae_per_frame(pred, truth) -> np.ndarray:
    pred, truth = _pair(pred, truth)
    return np.abs(pred - truth).sum(axis=(1, 2))


def ssim_per_frame(pred, truth) -> np.ndarray:
    pred, truth = _pair(pred, truth)
    return np.array([structural_similarity(p, t, data_range=1.0) for p, t in zip(pred, truth)])


def psnr_per_frame(pred, truth) -> np.ndarray:
    pred, truth = _pair(pred, truth)
    out = []
    for p, t in zip(pred, truth):
        out.append(PSNR_CAP if np.array_equal(p, t) else min(PSNR_CAP, peak_signal_noise_ratio(t, p, data_range=1.0)))
    return np.array(out)


METRICS = {"mse": mse_per_frame, "mae": mae_per_frame, "ssim": ssim_per_frame, "psnr": psnr_per_frame}


def ink_kept(context, prediction) -> float:
    """Ink of the first predicted frame over that of the last context frame (`context (T, 64, 64)`, `prediction
    (H, 64, 64)`, same value range): near 1 where the prediction carries everything on, below where it drops ink
    (0.0 for an empty context: nothing to keep)."""
    last = float(np.asarray(context, np.float64)[-1].sum())
    return float(np.asarray(prediction, np.float64)[0].sum()) / last if last > 0 else 0.0


def copy_last_baseline(context, horizon: int) -> np.ndarray:
    """The copy-last-context-frame prediction: `(horizon, H, W)` repeats of `context[-1]`."""
    return np.repeat(np.asarray(context)[-1:], horizon, axis=0)


@keras.saving.register_keras_serializable(package="predictor")
class FutureFrameMSE(keras.metrics.Mean):
    """Keras training metric: MSE per frame (sum over pixels) of the last `horizon` predicted frames.

    y_true / y_pred `(B, T, 64, 64, 1)`; `horizon=None` uses all T frames.
    """

    def __init__(self, horizon=None, name="frame_mse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.horizon = horizon

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.horizon is not None:
            y_true, y_pred = y_true[:, -self.horizon :], y_pred[:, -self.horizon :]
        err = keras.ops.sum(keras.ops.square(y_pred - y_true), axis=(2, 3, 4))  # (B, T)
        return super().update_state(keras.ops.mean(err, axis=1), sample_weight)

    def get_config(self):
        return {**super().get_config(), "horizon": self.horizon}


@keras.saving.register_keras_serializable(package="predictor")
class MSEWithSSIM(keras.losses.Loss):
    """Training loss: per-pixel MSE + `ssim_weight` x (1 - SSIM), on frames `(B, T, 64, 64, 1)` in [0, 1].

    MSE alone pays a model that is unsure where a digit went to draw a grey smear over every place it might
    be; SSIM scores structure, so the second term charges for that blur. Returns one value per sequence.
    """

    def __init__(self, ssim_weight: float = 0.05, name="mse_ssim", **kwargs):
        super().__init__(name=name, **kwargs)
        self.ssim_weight = float(ssim_weight)

    def call(self, y_true, y_pred):
        ops = keras.ops
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        mse = ops.mean(ops.square(y_pred - y_true), axis=(1, 2, 3, 4))  # (B,)
        batch, steps = ops.shape(y_true)[0], ops.shape(y_true)[1]
        flat = lambda t: ops.reshape(t, (-1, 64, 64, 1))  # noqa: E731
        ssim = ops.reshape(gaussian_ssim(flat(y_true), flat(y_pred)), (batch, steps))  # (B, T)
        return mse + self.ssim_weight * (1.0 - ops.mean(ssim, axis=1))

    def get_config(self):
        return {**super().get_config(), "ssim_weight": self.ssim_weight}


def gaussian_ssim(a, b, size: int = 11, sigma: float = 1.5):
    """SSIM per image of `a`, `b` `(N, H, W, 1)` float32 in [0, 1] -> `(N,)`, in Keras ops (any backend).

    The definition of `tf.image.ssim` (11x11 Gaussian window, sigma 1.5, k1 0.01, k2 0.03, valid positions),
    so the training loss is the same under TensorFlow and JAX. Evaluation uses scikit-image's (`ssim_per_frame`).
    """
    ops = keras.ops
    g = np.exp(-0.5 * ((np.arange(size) - (size - 1) / 2) / sigma) ** 2)
    g = (g / g.sum()).astype("float32")
    rows, cols = ops.convert_to_tensor(g.reshape(size, 1, 1, 1)), ops.convert_to_tensor(g.reshape(1, size, 1, 1))
    blur = lambda x: ops.conv(ops.conv(x, rows, padding="valid"), cols, padding="valid")  # noqa: E731
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim = (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ops.mean(ssim, axis=(1, 2, 3))
