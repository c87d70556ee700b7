"""Causality, streaming == full recompute, `.keras` round trip with safe_mode, untrusted files refused."""

import keras
import numpy as np
import pytest

from predictor import load_predictor
from predictor.models import build_seed_model, build_streaming_model
from predictor.moving_mnist import generate


def _frames(n=1, t=8, seed=0):
    return (generate(n, t, rng=seed, split="val") / 255.0).astype(np.float32)[..., None]


@pytest.fixture(scope="module")
def streaming():
    keras.utils.set_random_seed(0)
    return build_streaming_model(filters=(8, 8), kernel_size=3, context_frames=100)


@pytest.mark.parametrize("motion", [0, 4])
def test_streaming_model_is_causal(motion):
    keras.utils.set_random_seed(1)
    m = build_streaming_model(filters=(8, 8), kernel_size=3, context_frames=100, motion_features=motion)
    x = _frames(t=8)
    y = x.copy()
    y[:, 5:] = np.random.default_rng(0).random(y[:, 5:].shape)
    a, b = m(x).numpy(), m(y).numpy()
    # Output t predicts frame t+1 from frames <= t: outputs 0..4 must not see frames 5..7.
    assert np.abs(a[:, :5] - b[:, :5]).max() == 0.0
    assert np.abs(a[:, 5:] - b[:, 5:]).max() > 1e-4


def test_seed_head_peeks_ahead_unless_causal():
    x = _frames(t=6)
    y = x.copy()
    y[:, 4:] = 1.0 - y[:, 4:]
    keras.utils.set_random_seed(0)
    seed = build_seed_model()
    keras.utils.set_random_seed(0)
    causal = build_seed_model(causal_head=True)
    # The example's Conv3D head mixes frames t-1..t+1: output 3 changes when frame 4 changes (its flaw).
    assert np.abs(seed(x).numpy()[:, 3] - seed(y).numpy()[:, 3]).max() > 1e-6
    assert np.abs(causal(x).numpy()[:, :4] - causal(y).numpy()[:, :4]).max() == 0.0


def test_streaming_rollout_equals_full_recompute(tiny_model_path):
    p = load_predictor(tiny_model_path)
    seq = generate(1, 16, rng=3, split="val")[0]
    context = seq[:10]
    rollout = p.predict(context, horizon=6)
    # Re-running the whole sequence [context, predictions] teacher-forced must give the same frames.
    full = p.one_step(np.concatenate([context / 255.0, rollout]).astype(np.float32))
    assert full[9:].shape == rollout.shape == (6, 64, 64)
    assert np.abs(full[9:] - rollout).max() <= 1e-5


def test_keras_round_trip_with_safe_mode(tmp_path):
    keras.utils.set_random_seed(2)
    model = build_streaming_model(filters=(8, 8), kernel_size=3, context_frames=3, motion_features=4, floor=0.1)
    path = str(tmp_path / "m.keras")
    model.save(path)
    back = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert back.config == model.config and (back.config.floor, back.config.motion_features) == (0.1, 4)
    x = _frames(t=5)
    assert np.allclose(model(x).numpy(), back(x).numpy(), atol=1e-6)


def test_floor_cuts_faint_values_and_rescales(streaming):
    keras.utils.set_random_seed(3)
    cut = build_streaming_model(filters=(8, 8), kernel_size=3, context_frames=100, floor=0.05)
    cut.set_weights(streaming.get_weights())
    x = _frames(t=2)  # one step: both read the same true frame, so only the head's floor differs
    raw, floored = streaming(x).numpy(), cut(x).numpy()
    assert np.allclose(floored, np.maximum(raw - 0.05, 0.0) / 0.95, atol=1e-6)
    assert (raw < 0.05).any() and (floored[raw < 0.05] == 0.0).all()


def test_lambda_model_is_refused(tmp_path):
    inp = keras.Input((None, 64, 64, 1))
    out = keras.layers.Lambda(lambda t: t * 1.0)(inp)
    path = str(tmp_path / "lambda.keras")
    keras.Model(inp, out).save(path)
    with pytest.raises(ValueError, match="safe_mode|arbitrary code"):
        load_predictor(path)


@pytest.mark.parametrize("make", [
    lambda: __import__("predictor.layers", fromlist=["x"]).ConvLSTMCell(6, 3, name="cell"),
    lambda: __import__("predictor.layers", fromlist=["x"]).MotionHead(patch=4, window=5, hypotheses=3, name="head"),
    lambda: build_streaming_model(filters=(4, 6), kernel_size=3, window=5, motion_features=2, floor=0.1),
    lambda: __import__("predictor.metrics", fromlist=["x"]).FutureFrameMSE(horizon=7),
    lambda: __import__("predictor.metrics", fromlist=["x"]).MSEWithSSIM(ssim_weight=0.2),
])
def test_every_serializable_object_round_trips_its_config(make):
    """get_config -> serialize -> deserialize (as a .keras file does, safe_mode on) -> the same config."""
    obj = make()
    blob = keras.saving.serialize_keras_object(obj)
    back = keras.saving.deserialize_keras_object(blob, safe_mode=True)
    assert type(back) is type(obj) and back.get_config() == obj.get_config()
    assert blob["registered_name"].startswith("predictor>")  # found through the registry, not a module path


def test_streaming_options_live_in_one_config():
    from predictor.models import StreamingConfig

    model = build_streaming_model(StreamingConfig(filters=(4,), kernel_size=3), floor=0.3)
    assert model.config == StreamingConfig(filters=(4,), kernel_size=3, floor=0.3)
    assert {k: model.get_config()[k] for k in model.config.to_dict()} == model.config.to_dict()
    model.reconfigure(floor=0.1, free_running=False)
    assert (model.config.floor, model.config.free_running) == (0.1, False)
    with pytest.raises(ValueError, match="Only floor, free_running and context_frames"):
        model.reconfigure(filters=(8,))


def test_warm_start_with_new_motion_features_computes_what_the_source_did():
    from predictor.models import warm_start

    keras.utils.set_random_seed(5)
    source = build_streaming_model(filters=(8, 8), kernel_size=3, context_frames=3)
    grown = build_streaming_model(filters=(8, 8), kernel_size=3, context_frames=3, motion_features=4)
    copied = warm_start(grown, source)
    assert len(copied) == len(source.weights) and len(grown.weights) == len(source.weights) + 2
    x = _frames(t=6)
    np.testing.assert_allclose(grown(x).numpy(), source(x).numpy(), atol=1e-6)  # new inputs start at zero weight
    with pytest.raises(ValueError, match="Cannot warm-start"):
        warm_start(build_streaming_model(filters=(4, 8), kernel_size=3), source)


def test_retired_options_load_at_their_old_defaults_only():
    """Configs saved with `motion_history` / `memory_warp` (removed: no bundled model used them) still load where
    they hold the values every saved model had; any other value is refused with the option's name."""
    from predictor.models import RETIRED, StreamingConfig, StreamingConvLSTM

    saved = {**build_streaming_model(filters=(4,), kernel_size=3).get_config(), **RETIRED}
    assert StreamingConvLSTM.from_config(saved).config == StreamingConfig.from_dict(saved)
    assert StreamingConfig.from_dict(saved).filters == (4,)
    for key, value in (("motion_history", 3), ("memory_warp", 0.5)):
        with pytest.raises(ValueError, match=f"{key} is no longer supported"):
            StreamingConvLSTM.from_config({**saved, key: value})
        with pytest.raises(ValueError, match=f"{key} is no longer supported"):
            StreamingConfig.from_dict({**saved, key: value})


def test_warm_start_into_wider_and_deeper_cells_computes_what_the_source_did():
    from predictor.models import warm_start

    keras.utils.set_random_seed(6)
    source = build_streaming_model(filters=(8, 6), kernel_size=3, context_frames=3, motion_features=2)
    grown = build_streaming_model(filters=(12, 10, 4), kernel_size=3, context_frames=3, motion_features=3)
    before = {v.path: keras.ops.convert_to_numpy(v) for v in grown.weights}
    copied = warm_start(grown, source)
    assert len(copied) == len(source.weights)  # the third cell keeps its fresh weights
    x = _frames(t=6)
    np.testing.assert_allclose(grown(x).numpy(), source(x).numpy(), atol=1e-5)
    # The new units are not dead: their weights stay random, so training has gradients to follow.
    gates = next(v for v in grown.weights if v.path.endswith("cell1/gates/kernel"))
    new_unit = keras.ops.convert_to_numpy(gates)[..., 6]  # cell1 unit 6 of the input gate block: new
    assert np.abs(new_unit).max() > 0 and np.allclose(new_unit, before[gates.path][..., 6])


def test_neighbourhoods_and_motion_evidence_read_the_right_pixels():
    """Per patch and pixel, entry (k, p) is the frame at pixel p + offset k (zero past the edges), and the motion
    evidence is the mean over each patch of previous(p) * current(p + offset): checked against plain numpy."""
    from predictor.layers import displacement_offsets, motion_cost, neighbourhoods

    rng = np.random.default_rng(4)
    cur, prev = rng.random((2, 64, 64)).astype(np.float32), rng.random((2, 64, 64)).astype(np.float32)
    got = keras.ops.convert_to_numpy(neighbourhoods(cur[..., None], 9, 4))  # (2, 16, 16, 81, 16)
    padded = np.pad(cur, ((0, 0), (4, 4), (4, 4)))
    want = np.empty((2, 16, 16, 81, 16), np.float32)
    for k, (dy, dx) in enumerate(displacement_offsets(9)):
        shifted = padded[:, 4 + dy : 68 + dy, 4 + dx : 68 + dx]  # shifted[y, x] = cur[y + dy, x + dx]
        want[:, :, :, k] = shifted.reshape(2, 16, 4, 16, 4).transpose(0, 1, 3, 2, 4).reshape(2, 16, 16, 16)
    np.testing.assert_array_equal(got, want)
    evidence = keras.ops.convert_to_numpy(motion_cost(got, prev[..., None], 4))
    blocks = prev.reshape(2, 16, 4, 16, 4).transpose(0, 1, 3, 2, 4).reshape(2, 16, 16, 1, 16)
    np.testing.assert_allclose(evidence, (want * blocks).mean(-1), rtol=1e-5, atol=1e-6)


def test_read_gives_the_states_step_gives():
    keras.utils.set_random_seed(2)
    m = build_streaming_model(filters=(8, 8), kernel_size=3, motion_features=4)
    x = _frames(t=4)
    a = b = m.initial_state(1)
    for t in range(4):
        a, b = m.read(x[:, t], a), m.step(x[:, t], b)[1]
    for sa, sb in zip(keras.tree.flatten(a), keras.tree.flatten(b)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(sa), keras.ops.convert_to_numpy(sb), atol=1e-6)
