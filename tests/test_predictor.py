"""The predictor API contract: shapes, dtypes, ranges and clear errors."""

import keras
import numpy as np
import pytest

from predictor import load_predictor
from predictor.models import build_seed_model
from predictor.predictor import SeedPredictor, as_frames
from predictor.moving_mnist import generate


@pytest.fixture(scope="module")
def p(tiny_model_path):
    return load_predictor(tiny_model_path)


@pytest.fixture(scope="module")
def seqs():
    return generate(3, 14, rng=0, split="val")


def test_default_model_loads_offline(monkeypatch):
    """With every network connection failing (and the Hub library not told it is offline): the bundled model still
    loads and predicts. The same in a fresh process (nothing imported yet): tests/test_rollout_threads.py."""
    import socket

    from predictor import loading

    def refuse(*a, **k):
        raise OSError("network blocked by the test")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    loading._load.cache_clear()  # read from the file, not from this session's cache...
    p = load_predictor()  # ...and cached for the tests after this one, which need not load it again
    out = p.predict(generate(1, 10, rng=1, split="val")[0], horizon=3)
    assert (p.kind, out.shape, out.dtype) == ("streaming", (3, 64, 64), np.float32)
    assert p.info["parameters"] == p.model.count_params() > 0


def test_uint8_float_and_channel_inputs_agree(p, seqs):
    ctx = seqs[0, :10]
    a = p.predict(ctx, 4)
    b = p.predict(ctx.astype(np.float32) / 255.0, 4)
    c = p.predict(ctx[..., None], 4)
    assert a.shape == (4, 64, 64) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert np.allclose(a, b, atol=1e-6) and np.allclose(a, c, atol=1e-6)


def test_batch_equals_single(p, seqs):
    batch = p.predict_batch(seqs[:, :10], 5)
    assert batch.shape == (3, 5, 64, 64)
    for i in range(3):
        assert np.allclose(batch[i], p.predict(seqs[i, :10], 5), atol=1e-5)


def test_one_step_shape(p, seqs):
    assert p.one_step(seqs[0]).shape == (13, 64, 64)


@pytest.mark.parametrize("bad,match", [
    (np.zeros((10, 32, 32)), "shape"),
    (np.zeros((10, 64, 64, 3)), "shape"),
    (np.full((10, 64, 64), np.nan, np.float32), "NaN"),
    (np.full((10, 64, 64), 2.0, np.float32), r"\[0, 1\]"),
    (np.array([["a"]]), "numeric"),
    (np.zeros((0, 64, 64)), "at least one frame"),
])
def test_bad_context(p, bad, match):
    with pytest.raises(ValueError, match=match):
        p.predict(bad, 3)


@pytest.mark.parametrize("horizon", [0, -1, 10_000, 2.5, "3", True])
def test_bad_horizon(p, seqs, horizon):
    with pytest.raises(ValueError, match="horizon"):
        p.predict(seqs[0, :10], horizon)


def test_one_step_needs_two_frames(p, seqs):
    with pytest.raises(ValueError, match="at least 2"):
        p.one_step(seqs[0, :1])


@pytest.mark.parametrize("source,match", [
    ("missing.keras", "not found"),
    ("model.h5", "must be"),
    ("hf://only-owner", "hf://owner/repo"),
    ("hf://owner/../etc", "hf://owner/repo"),
])
def test_bad_sources(source, match):
    with pytest.raises(ValueError, match=match):
        load_predictor(source)


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="Could not read"):
        load_predictor(str(bad))


def test_unreachable_hub_gives_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match=r"^Could not reach the Hugging Face Hub for 'someone/some-model' and it is "
                                         r"not in the local cache \(no network, or HF_HUB_OFFLINE=1\)\. Load it once "
                                         r"online, or use a local \.keras file\.$"):
        load_predictor("hf://someone/some-model")


def test_seed_one_step_in_one_pass_equals_one_pass_per_prefix():
    keras.utils.set_random_seed(4)
    p = SeedPredictor(build_seed_model(), {}, "seed")
    x = as_frames(generate(1, 5, rng=8, split="val")[0])[None]
    fast, slow = p._one_step(x), p.one_step_by_prefixes(x)
    assert fast.shape == slow.shape == (1, 4, 64, 64, 1)
    assert np.abs(fast - slow).max() <= 1e-5
