"""`python -m tools.oracle`: the rollout told each digit's step, the probe behind docs/training.md's ceiling."""

import numpy as np
import pytest

from predictor import load_predictor
from predictor.layers import displacement_offsets
from predictor.moving_mnist import generate
from tools import oracle


def test_came_from_names_minus_each_digits_step():
    seqs, alone, pos = oracle.tracked_sequences(3, 8, seed=3)
    assert seqs.shape == (3, 8, 64, 64) and alone.shape == (3, 2, 8, 64, 64) and pos.shape == (3, 2, 8, 2)
    np.testing.assert_array_equal(seqs, generate(3, 8, rng=3, split="val"))  # train.evaluate's sequences
    index = oracle.came_from(alone, pos)
    assert index.shape == (3, 7, 16, 16) and (index >= 0).mean() > 0.05
    steps = pos[:, :, 1:] - pos[:, :, :-1]
    for n, t in [(0, 0), (1, 3), (2, 6)]:
        told = {tuple(o) for o in displacement_offsets(9)[index[n, t][index[n, t] >= 0]]}
        assert told <= {tuple(-s) for s in steps[n, :, t]} and told, (told, steps[n, :, t])


def test_one_digit_sequences_for_what_the_second_costs(tiny_model_path, capsys):
    seqs, alone, pos = oracle.tracked_sequences(3, 8, seed=3, digits=1)
    assert alone.shape == (3, 1, 8, 64, 64) and pos.shape == (3, 1, 8, 2)
    np.testing.assert_array_equal(seqs, generate(3, 8, num_digits=1, rng=3, split="val"))
    index = oracle.came_from(alone, pos)
    steps = pos[:, 0, 1:] - pos[:, 0, :-1]  # one digit: every patch with ink is told its step
    offsets = displacement_offsets(9)[np.where(index >= 0, index, 0)]
    assert (index >= 0).any() and (offsets == -steps[:, :, None, None])[index >= 0].all()
    oracle.main(["--model", tiny_model_path, "--sequences", "2", "--context", "4", "--horizon", "3", "--digits", "1"])
    out = capsys.readouterr().out
    assert "of 1 validation digits" in out and len(out.splitlines()) == 4, out


def test_one_pixel_off_moves_the_wrong_share_by_one_pixel():
    index = np.random.default_rng(0).integers(10, 70, size=(4, 5, 16, 16))
    index[0, 0, :4] = -1
    assert (oracle.one_pixel_off(index, 1.0, np.random.default_rng(1)) == index).all()
    off = oracle.one_pixel_off(index, 0.0, np.random.default_rng(1))
    assert (off[index < 0] == -1).all()
    moved = np.abs(np.stack(np.divmod(off, 9)) - np.stack(np.divmod(index, 9))).sum(axis=0)
    assert moved[index >= 0].max() == 1 and moved[index >= 0].mean() > 0.8  # (some sit at the window's edge)


def test_told_rollout_is_the_models_own_at_strength_zero(tiny_model_path):
    p = load_predictor(tiny_model_path, cache=False)
    seqs = generate(2, 9, rng=4, split="val")
    targets = np.random.default_rng(0).integers(-1, 81, size=(2, 8, 16, 16))
    plain = p.predict_batch(seqs[:, :5], 4)
    np.testing.assert_allclose(oracle.ToldPredictor(p, targets, 0.0).predict_batch(seqs[:, :5], 4), plain, atol=1e-5)
    told = oracle.ToldPredictor(p, targets, 5.0).predict_batch(seqs[:, :5], 4)
    assert told.shape == plain.shape and np.abs(told - plain).max() > 1e-3


def test_cli_prints_a_row_per_strength_and_accuracy(tiny_model_path, capsys):
    oracle.main(["--model", tiny_model_path, "--sequences", "2", "--context", "4", "--horizon", "3",
                 "--strength", "0", "5", "--accuracy", "1", "0.5"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [r[:2] for r in rows] == [["0", "1.00"], ["5", "1.00"], ["5", "0.50"]], rows
    assert all(np.isfinite(float(r[2])) for r in rows)


def test_cli_rejects_empty_runs(capsys):
    for argv in (["--sequences", "0"], ["--horizon", "0"], ["--tracker", "--tracks", "0"]):
        with pytest.raises(SystemExit):
            oracle.main(argv)
        assert "must be" in capsys.readouterr().err
