"""`Predictor.prepare` / `predict_prepared`: the per-context work done apart from the model call (as `demo.batcher`
does it, outside the model lock), giving exactly what `predict` and `predict_batch` give."""

import numpy as np
import pytest

from predictor import load_predictor
from predictor.moving_mnist import generate
from predictor.predictor import Prepared


def test_prepared_contexts_roll_out_exactly_as_predict_batch_and_predict(tiny_model_path):
    p = load_predictor(tiny_model_path, layers=2, experts=["copy-last"])
    seqs = generate(4, 10, rng=11, split="val")  # uint8 (4, 10, 64, 64)
    prepared = [p.prepare(s) for s in seqs]
    assert all(isinstance(x, Prepared) and len(x) == 10 for x in prepared)
    assert any(len(x.parts) > 1 for x in prepared)  # some are split into digit layers: the split is in `prepare`
    out = p.predict_prepared(prepared, 4)
    assert out.shape == (4, 4, 64, 64) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(out, p.predict_batch(seqs, 4))
    for i in range(4):
        np.testing.assert_array_equal(p.predict_prepared([prepared[i]], 4)[0], p.predict(seqs[i], 4))
    np.testing.assert_array_equal(p.predict_prepared(prepared[2:], 4), out[2:])  # any subset, in any batch


def test_without_digit_layers_the_whole_frames_are_the_one_part(tiny_model_path):
    p = load_predictor(tiny_model_path)  # layers=0: nothing to split
    seq = generate(1, 6, rng=3, split="val")[0]
    x = p.prepare(seq)
    assert x.frames.shape == (6, 64, 64, 1) and x.frames.dtype == np.float32 and x.parts.shape == (1, 6, 64, 64, 1)
    np.testing.assert_array_equal(x.frames[..., 0], seq / np.float32(255))
    np.testing.assert_array_equal(p.predict_prepared([x], 3)[0], p.predict(seq, 3))


def test_bad_contexts_and_mixtures_are_refused_clearly(tiny_model_path):
    p, other = load_predictor(tiny_model_path, layers=2), load_predictor(tiny_model_path, layers=0)
    seqs = generate(2, 8, rng=5, split="val")
    with pytest.raises(ValueError, match=r"context must have shape \(T, 64, 64\[, 1\]\)"):
        p.prepare(np.zeros((5, 32, 32)))
    with pytest.raises(ValueError, match="must be uint8 in"):
        p.prepare(np.full((5, 64, 64), 2.0))
    with pytest.raises(ValueError, match="horizon"):
        p.predict_prepared([p.prepare(seqs[0])], 0)
    with pytest.raises(ValueError, match="non-empty list"):
        p.predict_prepared([], 3)
    with pytest.raises(ValueError, match="this predictor's"):
        p.predict_prepared([other.prepare(seqs[0])], 3)  # split by other settings: not this predictor's to roll out
    with pytest.raises(ValueError, match="this predictor's"):
        p.predict_prepared([seqs[0]], 3)  # raw frames are not prepared
    with pytest.raises(ValueError, match="one length"):
        p.predict_prepared([p.prepare(seqs[0]), p.prepare(seqs[1, :5])], 3)
