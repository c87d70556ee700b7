"""demo.ssim: the curves of several runs against one truth are bit for bit scikit-image's (ssim_per_frame)."""

import numpy as np
import pytest

from demo import report
from demo.ssim import CHUNK, ssim_curves
from predictor.metrics import copy_last_baseline, ssim_per_frame


def _digits(rng, n, side=64):
    """Frames like Moving MNIST's: mostly black, a few bright blobs, float32 in [0, 1]."""
    x = np.zeros((n, side, side), np.float32)
    for f in x:
        for _ in range(3):
            r, c = rng.integers(0, side - 6, 2)
            f[r : r + 6, c : c + 6] = rng.random((6, 6))
    return x


@pytest.mark.parametrize("n", [1, 7, CHUNK, 2 * CHUNK + 3])
def test_every_curve_equals_scikit_image_bit_for_bit(n):
    rng = np.random.default_rng(n)
    truth = _digits(rng, n)
    truth[0] = 0  # an empty true frame: its means are zeros too
    runs = {"model": np.clip(truth + rng.normal(0, 0.1, truth.shape), 0, 1).astype(np.float32),
            "other": _digits(rng, n).astype(np.float64),
            "copy last frame": copy_last_baseline(_digits(rng, 2), n),  # one frame repeated
            "empty frames": np.zeros_like(truth),
            "truth itself": truth.copy(),
            "half empty": np.concatenate([np.zeros((n // 2, 64, 64)), _digits(rng, n - n // 2)]),
            "not run": None}
    curves = ssim_curves(truth, runs)
    assert set(curves) == set(runs) - {"not run"}
    for name, curve in curves.items():
        expected = ssim_per_frame(runs[name], truth)
        assert curve.dtype == np.float64 and curve.shape == (n,)
        assert np.array_equal(curve, expected), (name, np.abs(curve - expected).max())
    np.testing.assert_array_equal(curves["truth itself"], 1.0)


def test_other_frame_sizes_and_the_error_curves_the_page_plots():
    rng = np.random.default_rng(3)
    truth, pred = rng.random((4, 9, 13)), rng.random((4, 9, 13))
    assert np.array_equal(ssim_curves(truth, {"a": pred})["a"], ssim_per_frame(pred, truth))
    context, truth8 = (rng.random((5, 64, 64)) * 255).astype(np.uint8), (rng.random((6, 64, 64)) * 255).astype(np.uint8)
    model = rng.random((8, 64, 64)).astype(np.float32)  # longer than the truth: cut to it
    curves = report.error_curves(context, truth8, {"free-running": model, "teacher-forced": None})
    tf = truth8.astype(np.float32) / 255.0
    for name, pred in {"free-running": model[:6], "copy last frame": copy_last_baseline(context / 255.0, 6),
                       "empty frames": np.zeros((6, 64, 64))}.items():
        assert np.array_equal(curves[name]["ssim"], ssim_per_frame(pred.astype(np.float32), tf)), name


def test_bad_shapes_are_refused_with_what_was_received():
    truth = np.zeros((3, 64, 64))
    with pytest.raises(ValueError, match="'a' \\(2, 64, 64\\) against the truth's \\(3, 64, 64\\)"):
        ssim_curves(truth, {"a": np.zeros((2, 64, 64))})
    with pytest.raises(ValueError, match="H and W >= 7"):
        ssim_curves(np.zeros((3, 6, 64)), {"a": np.zeros((3, 6, 64))})
