"""Metrics against values computed by hand."""

import numpy as np
import pytest

from predictor import metrics


def test_mse_and_mae_are_sums_over_pixels():
    truth = np.zeros((2, 64, 64))
    pred = np.zeros((2, 64, 64))
    pred[0, :2, :2] = 0.5  # 4 pixels off by 0.5
    pred[1] = 1.0  # every pixel off by 1
    assert np.allclose(metrics.mse_per_frame(pred, truth), [4 * 0.25, 4096])
    assert np.allclose(metrics.mae_per_frame(pred, truth), [2.0, 4096])


def test_ssim_and_psnr():
    rng = np.random.default_rng(0)
    a = rng.random((3, 64, 64))
    assert np.allclose(metrics.ssim_per_frame(a, a), 1.0)
    b = np.clip(a + 0.1, 0, 1)
    mse = ((a - b) ** 2).mean(axis=(1, 2))
    assert np.allclose(metrics.psnr_per_frame(b, a), -10 * np.log10(mse))
    assert np.allclose(metrics.psnr_per_frame(a, a), metrics.PSNR_CAP)
    assert (metrics.ssim_per_frame(b, a) < 1).all()


def test_copy_last_baseline_and_shape_errors():
    ctx = np.arange(3 * 64 * 64, dtype=float).reshape(3, 64, 64)
    base = metrics.copy_last_baseline(ctx, 4)
    assert base.shape == (4, 64, 64) and all(np.array_equal(f, ctx[-1]) for f in base)
    with pytest.raises(ValueError, match="Received"):
        metrics.mse_per_frame(np.zeros((2, 64, 64)), np.zeros((3, 64, 64)))


def test_keras_future_frame_mse():
    y = np.zeros((2, 5, 64, 64, 1), np.float32)
    p = y.copy()
    p[:, -2:] = 0.5  # last two frames: 4096 * 0.25 = 1024 each
    m = metrics.FutureFrameMSE(horizon=2)
    m.update_state(y, p)
    assert float(m.result()) == pytest.approx(1024.0)
    m_all = metrics.FutureFrameMSE(horizon=None)
    m_all.update_state(y, p)
    assert float(m_all.result()) == pytest.approx(1024.0 * 2 / 5)


def test_training_ssim_is_tensorflows_in_backend_neutral_ops():
    """`MSEWithSSIM` must mean the same under TensorFlow (CPU runs) and JAX (the GPU runs)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = np.zeros((4, 64, 64, 1), np.float32)
    a[:, 20:40, 10:30] = 1.0
    b = np.clip(a + 0.3 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    b[3] = a[3]
    ours = np.asarray(metrics.gaussian_ssim(a, b))
    np.testing.assert_allclose(ours, tf.image.ssim(a, b, max_val=1.0).numpy(), atol=1e-5)
    assert ours[3] == pytest.approx(1.0) and ours[:3].max() < 0.5
    loss = metrics.MSEWithSSIM(0.5)(a.reshape(2, 2, 64, 64, 1), b.reshape(2, 2, 64, 64, 1))
    mse = ((a - b) ** 2).reshape(2, -1).mean(axis=1)
    assert float(loss) == pytest.approx(float(np.mean(mse + 0.5 * (1 - ours.reshape(2, 2).mean(axis=1)))), rel=1e-4)
