"""`predictor.runtime`: the serving threads and bfloat16 convolutions, and what they do to a rollout."""

import numpy as np
import pytest

from predictor import runtime
from predictor.moving_mnist import generate


@pytest.mark.parametrize("flags, native", [("fpu sse2 avx512f avx512_bf16 avx512_vnni", True),
                                           ("fpu sse2 amx_bf16 amx_tile", True), ("fpu sse2 avx2 avx512f", False)])
def test_native_bfloat16_reads_the_cpu_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    assert runtime.native_bfloat16(str(cpuinfo)) is native
    assert runtime.native_bfloat16(str(tmp_path / "missing")) is False  # not Linux: float32


def test_conv_dtype_can_be_forced(monkeypatch):
    for forced in ("float32", "bfloat16"):
        monkeypatch.setenv("PREDICTOR_CONV_DTYPE", forced)
        assert runtime.conv_dtype() == forced
    monkeypatch.setenv("PREDICTOR_CONV_DTYPE", "float16")
    with pytest.raises(ValueError, match="PREDICTOR_CONV_DTYPE must be float32 or bfloat16"):
        runtime.conv_dtype()
    monkeypatch.delenv("PREDICTOR_CONV_DTYPE")
    assert runtime.conv_dtype() == ("bfloat16" if runtime.native_bfloat16() else "float32")


@pytest.mark.slow  # the bundled default traced twice, float32 and bfloat16: ~4 s of CPU
def test_bfloat16_convolutions_keep_the_rollout(monkeypatch):
    """The bundled model with bfloat16 convolutions predicts what it does in float32, to bfloat16's rounding, and its
    file and other predictors stay float32."""
    from predictor import load_predictor
    from predictor.metrics import mse_per_frame

    monkeypatch.setenv("PREDICTOR_CONV_DTYPE", "bfloat16")
    fast = load_predictor("default", cache=False)
    monkeypatch.setenv("PREDICTOR_CONV_DTYPE", "float32")  # as conftest.py sets it for the whole session
    exact = load_predictor("default")  # the session's cached float32 predictor where a test loaded it before
    assert fast.conv_dtype == "bfloat16" and exact.conv_dtype == "float32"
    fast_conv, head = fast.rollout_model.cells[0].conv, fast.rollout_model.head
    assert fast_conv.compute_dtype == "bfloat16" and head.kernels.compute_dtype == "bfloat16"
    assert fast_conv.kernel.dtype == "bfloat16" and head.generate.bias.dtype == "bfloat16"  # cast once, not per step
    assert fast.rollout_model.motion.kernel.dtype == "float32"  # the rest stays float32
    assert exact.rollout_model.cells[0].conv.compute_dtype == "float32"
    assert all(w.dtype == "float32" for w in fast.model.weights)  # the loaded model is untouched

    contexts = generate(4, 20, rng=3, split="val")
    a, b = fast.predict_batch(contexts[:, :10], 10), exact.predict_batch(contexts[:, :10], 10)
    truth = contexts[:, 10:] / 255.0
    assert np.abs(a - b).mean() < 1e-3 and np.abs(a - b).max() < 0.2, (np.abs(a - b).mean(), np.abs(a - b).max())
    errors = [np.mean([mse_per_frame(p, t).mean() for p, t in zip(pred, truth)]) for pred in (a, b)]
    assert abs(errors[0] - errors[1]) < 0.02 * errors[1], errors  # the metrics move by rounding, not more


# use_rollout_threads() itself (before TensorFlow starts: set; after: refused) needs fresh interpreters: it is checked
# in tests/test_rollout_threads.py, in the same processes that check load_predictor's threads.
