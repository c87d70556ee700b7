"""`predictor.bound` and `python -m tools.bound`: the exact reader of each digit's context, and the best prediction
the task allows."""

import json
import os

import numpy as np
import pytest

from predictor import bound
from predictor.moving_mnist import SPEED, bounce, draw, draws, generate, move, starts, tracks, trajectories, velocities
from train import curves
from tools import bound as bound_cli


def test_starts_are_the_state_behind_each_track():
    start, vel = starts(5, 2, SPEED, np.random.default_rng(3))
    np.testing.assert_array_equal(bounce(start, vel, 12), trajectories(5, 12, 2, SPEED, np.random.default_rng(3)))
    np.testing.assert_allclose(np.hypot(vel[..., 0], vel[..., 1]), SPEED)


def test_draws_are_the_hidden_state_of_generate():
    digits, start, vel = draws(3, rng=5, split="val")
    assert digits.shape == (3, 2, 28, 28) and start.shape == vel.shape == (3, 2, 2)
    made = np.stack([draw(digits[i], bounce(start[i], vel[i], 9)) for i in range(3)])
    np.testing.assert_array_equal(made, generate(3, 9, rng=5, split="val"))


def test_possible_tracks_hold_the_truth_and_only_what_the_context_allows():
    start, vel = starts(6, 1, SPEED, np.random.default_rng(1))
    rng = np.random.default_rng(0)
    for s, v in zip(start[:, 0], vel[:, 0]):
        truth = bounce(s, v, 25)
        possible = bound.possible_tracks(s, v, truth[:10], 15, rng, candidates=20_000)
        assert len(possible) >= 1 and (possible[:, :10] == truth[:10]).all()
        assert (possible == truth).all(axis=(1, 2)).any()  # the true track is among them (its neighbourhood is)
        shorter = bound.possible_tracks(s, v, truth[:3], 22, rng, candidates=20_000)
        # three positions allow more futures than ten: fewer of the possible tracks share the truth's
        assert (shorter[:, 10:] == truth[10:]).all(-1).mean() <= (possible[:, 10:] == truth[10:]).all(-1).mean() + 0.05


def test_rounded_positions_are_read_with_their_rule():
    """A reader told the rounded rule keeps tracks that draw the rounded context and holds the truth; read as
    truncated, the same positions would start half a pixel off."""
    start, vel = starts(6, 1, SPEED, np.random.default_rng(2))
    rng = np.random.default_rng(0)
    for s, v in zip(start[:, 0], vel[:, 0]):
        truth = bounce(s, v, 25, "round")
        possible = bound.possible_tracks(s, v, truth[:10], 15, rng, candidates=20_000, pixel_rule="round")
        assert (possible[:, :10] == truth[:10]).all() and (possible == truth).all(axis=(1, 2)).any()


def test_position_right_and_best_prediction():
    possible = np.array([[[1, 1], [2, 2]], [[1, 1], [3, 3]], [[1, 1], [3, 3]]])
    np.testing.assert_array_equal(bound.position_right(possible, np.array([[1, 1], [2, 2]])), [True, False])
    digits, pos = tracks(1, 14, rng=2, split="val")
    exact = [np.repeat(pos[0, d][None], 3, 0) for d in range(2)]  # a certain future: the best frame is the truth
    best = bound.best_prediction(digits[0], exact, 10, np.random.default_rng(0), samples=4)
    np.testing.assert_allclose(best, generate(1, 14, rng=2, split="val")[0, 10:] / 255.0, atol=1e-6)
    assert best.shape == (4, 64, 64)
    spread = [np.concatenate([pos[0, d][None], pos[0, d][None] + [[0, 1]] * (np.arange(14)[:, None] >= 10)])
              for d in range(2)]  # half the weight one pixel off from frame 10 on: the best frame blends the two
    blended = bound.best_prediction(digits[0], spread, 10, np.random.default_rng(0), samples=64)
    assert 0.0 < blended.max() <= 1.0 and np.abs(blended - best).max() > 0.2 and np.abs(blended - best).mean() < 0.05


def test_cli_prints_the_bound(capsys, tmp_path):
    report = tmp_path / "bound.json"
    result = bound_cli.main(["--sequences", "2", "--horizon", "5", "--candidates", "20000", "--samples", "4",
                         "--json", str(report)])
    out = capsys.readouterr().out
    assert "most likely position right" in out and "5: " in out and "10: " not in out
    mse = float(out.split("MSE 1-10 ")[1].split()[0])
    empty = float(out.split("empty frames: MSE 1-10 ")[1].split(")")[0])
    assert 0.0 <= mse < 0.5 * empty  # a reader of the tracks keeps the digits
    saved = json.loads(report.read_text())  # as train.evaluate --json writes, so train.curves draws it beside models
    assert saved["label"].startswith("best the context allows") and len(saved["model"]["per_step"]["mse"]) == 5
    assert saved["model"]["mean"]["mse"] == pytest.approx(mse, abs=0.05) == result["model"]["mean"]["mse"]
    png = curves.main([f"bound={report}", "--out", str(tmp_path / "curves.png")])
    assert os.path.getsize(png) > 10_000
    bound_cli.main(["--sequences", "2", "--horizon", "3", "--candidates", "20000", "--samples", "2", "--digits", "1"])
    assert "2 sequences of 1 validation digits" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--sequences", "0"], ["--candidates", "10"], ["--samples", "0"]])
def test_cli_rejects_sizes_it_cannot_use(argv, capsys):
    with pytest.raises(SystemExit):
        bound_cli.main(argv)
    assert "must be" in capsys.readouterr().err


def test_best_frames_from_any_context_length():
    digits, start, vel = draws(1, rng=2, split="val")
    truth = generate(1, 25, rng=2, split="val")[0] / 255.0
    ten = bound.best_frames(digits[0], start[0], vel[0], context=10, horizon=15)
    again = bound.best_frames(digits[0], start[0], vel[0], context=10, horizon=15)
    np.testing.assert_array_equal(ten, again)  # reproducible from its seed
    assert ten.shape == (15, 64, 64) and ten.dtype == np.float32 and 0.0 <= ten.min() and ten.max() <= 1.0
    # One frame says nothing of the direction: every direction stays possible, so the best frame is a faint ring;
    # ten frames pin the track down, so it stays close to the truth.
    one = bound.best_frames(digits[0], start[0], vel[0], context=1, horizon=24)[9:]
    err = lambda p: ((p - truth[10:]) ** 2).sum(axis=(1, 2))  # noqa: E731
    assert err(ten).mean() < 0.5 * err(one).mean() and one.max() < 0.75 < ten.max()
    still = bound.best_frames(digits[0, :1], start[0, :1], np.zeros((1, 2)), context=3, horizon=4)
    np.testing.assert_allclose(still, draw(digits[0, :1], bounce(start[0, :1], np.zeros((1, 2)), 4)) / 255.0,
                               atol=1e-6)  # a digit that does not move stays where it is


def test_the_app_draws_the_best_possible_beside_generated_inputs():
    from demo import session

    for kind, index, seed in (("example", 4, 0), ("random", 0, 9)):
        _, truth = session.select_frames(kind, index, seed, context=10, horizon=12)
        best = session.best_possible(kind, index, seed, 10, 12)
        assert best.shape == (12, 64, 64) and not best.flags.writeable  # cached, so shared: read-only
        assert best is session.best_possible(kind, index, seed, 10, 12)
        truth = truth / 255.0
        assert ((best - truth) ** 2).sum(axis=(1, 2)).mean() < 0.3 * (truth ** 2).sum(axis=(1, 2)).mean()
    assert session.best_possible("upload") is None and session.best_possible("compose") is None  # paths unknown
    with pytest.raises(ValueError, match="Example index"):
        session.best_possible("example", 10_000)


# The plain implementation `predictor.bound` had before it was made cheaper (same random draws): the pinned reference.
def _reference_consistent(pos, vel, observed):
    kept, alive = np.zeros(len(pos), bool), np.arange(len(pos))
    for where in observed:
        agree = (pos.astype(np.int64) == where).all(-1)
        alive, pos, vel = alive[agree], pos[agree], vel[agree]
        pos, vel = move(pos, vel)
    kept[alive] = True
    return kept


def _reference_tracks(start, vel, observed, horizon, rng, candidates):
    theta, speed, rad, limit = np.arctan2(vel[0], vel[1]), float(np.hypot(*vel)), bound.SPREAD, 8 * candidates
    first = observed[0].astype(np.float64)
    for _ in range(8):
        pos = np.where(first == 36, 36.0, first + rng.uniform(0, 1, (candidates, 2)))
        angle = theta + rng.uniform(-rad, rad, candidates)
        velocity = speed * np.stack([np.sin(angle), np.cos(angle)], -1)
        kept = _reference_consistent(pos, velocity, observed)
        near_angle = kept.any() and rad < np.pi and np.abs(angle[kept] - theta).max() > 0.9 * rad
        if (kept.sum() >= 20 or (candidates >= limit and kept.any())) and not near_angle:
            return bounce(pos[kept][: bound.MAX_KEPT], velocity[kept][: bound.MAX_KEPT], len(observed) + horizon)
        if near_angle:
            rad = min(np.pi, 2 * rad)
        elif candidates < limit:
            candidates *= 2
        else:
            break
    return bounce(np.asarray(start, np.float64)[None], np.asarray(vel, np.float64)[None], len(observed) + horizon)


def _reference_best_frames(digits, start, vel, context, horizon, candidates, samples=48):
    rng = np.random.default_rng(0)
    observed = bounce(start, vel, context)
    possible = [_reference_tracks(s, v, o, horizon, rng, candidates) for s, v, o in zip(start, vel, observed)]
    picks = [p[rng.integers(0, len(p), samples), context:] for p in possible]
    frames = np.mean([draw(digits, np.stack([p[s] for p in picks])) for s in range(samples)], axis=0) / 255.0
    return frames.astype(np.float32)


@pytest.mark.parametrize("seed, context, horizon", [(1, 10, 10), (2, 1, 12), (3, 3, 8), (4, 20, 30), (5, 2, 5)])
def test_best_frames_equal_the_plain_implementation_bit_for_bit(seed, context, horizon):
    digits, start, vel = (a[0] for a in draws(1, num_digits=1 + seed % 3, rng=seed, split="val"))
    fast = bound.best_frames(digits, start, vel, context, horizon, candidates=20_000)
    np.testing.assert_array_equal(fast, _reference_best_frames(digits, start, vel, context, horizon, 20_000))
    made = np.array([[0.0, 0.0], [36.0, 20.0]]), velocities([0, 90], [3.6, 2.0])  # by hand: whole pixels, on axes
    np.testing.assert_array_equal(bound.best_frames(digits[:1].repeat(2, 0), *made, context, horizon, candidates=5000),
                                  _reference_best_frames(digits[:1].repeat(2, 0), *made, context, horizon, 5000))
    pos = np.random.default_rng(seed).uniform(0, 36, (3000, 2))
    v = np.random.default_rng(seed + 1).uniform(-4, 4, (3000, 2))
    observed = bounce(pos[7], v[7], 4)
    np.testing.assert_array_equal(bound.consistent(pos, v, observed), _reference_consistent(pos, v, observed))
