"""The routing rule as a pure function (`predictor.predictor.choose`), which the predictor and `tools.routing` both
call, and Look inside running the predictor's own rollout loop (`Rollout.explain`). `tests/test_experts.py`'s
`plain_routing` checks the predictor against the rule spelled out independently."""

import numpy as np
import pytest

from predictor.predictor import CONSULT, MARGIN, _beaten_by, choose


def errors(*rows):
    return np.array(rows, np.float32)


def test_nothing_consulted_keeps_the_model_even_where_an_expert_is_better():
    e = errors([CONSULT, 0.0, 0.0], [0.0, 0.0, 0.0], [0.05, 0.01, 0.0])  # at or below CONSULT: experts not asked
    assert choose(e, CONSULT, MARGIN).tolist() == [0, 0, 0]
    assert choose(errors([0.5], [2.0]), CONSULT, MARGIN).tolist() == [0, 0]  # no experts: the model, asked or not


def test_a_tie_or_near_tie_stays_with_the_earlier_model():
    e = errors([1.0, 1.0], [1.0, 0.9], [1.0, 0.84], [0.5, 0.5 * np.float32(MARGIN)])
    assert choose(e, CONSULT, MARGIN).tolist() == [0, 0, 1, 0]  # 0.84 < 0.85; exactly MARGIN times: not below
    assert choose(errors([1.0, 1.0]), CONSULT, 1.0).tolist() == [0]  # margin 1: a tie is still the model's


def test_a_later_expert_must_beat_the_earlier_winner():
    e = errors([1.0, 0.5, 0.45], [1.0, 0.5, 0.4], [1.0, 0.9, 0.8], [1.0, 2.0, 0.8])
    # 0.45 is not below 0.85 * 0.5; 0.4 is; 0.9 loses to the model, so 0.8 must beat 0.85 * 1.0; an expert far off
    # does not raise the bar for the next
    assert choose(e, CONSULT, MARGIN).tolist() == [1, 2, 2, 2]


def test_copy_last_wins_a_still_part_only_where_the_model_is_asked():
    """Copy-last (the last column) predicts a still part exactly (error 0): it wins where the model's error asks
    for the experts, however good the network expert is, unless that expert is exact too."""
    e = errors([0.3, 0.2, 0.0], [0.3, 0.0, 0.0], [0.05, 0.2, 0.0], [0.3, 0.2, 0.5])
    assert choose(e, CONSULT, MARGIN).tolist() == [2, 1, 0, 1]


def test_bad_errors_are_refused():
    for bad in (np.zeros(3, np.float32), np.zeros((2, 0), np.float32), np.zeros((2, 2), int), [["a", "b"]]):
        with pytest.raises(ValueError, match="errors must be a float array of shape"):
            choose(bad)


def test_an_expert_read_stopped_at_its_bound_is_one_choose_rejects():
    """`_beaten_by(e)`: the error from which on a winner is beaten by a later candidate with error `e`, as `choose`
    decides it (the early stop of an expert's reading relies on it)."""
    e = np.random.default_rng(0).uniform(1e-4, 2.0, 500).astype(np.float32)
    v = _beaten_by(e)
    for won_with in (v, np.nextafter(v, np.float32(np.inf)), v * np.float32(1.5)):
        assert (choose(np.stack([won_with, e], 1), 0.0, MARGIN) == 1).all()


def test_look_inside_explains_exactly_the_rollout_it_shows_in_bfloat16_too(tiny_model_path, monkeypatch):
    """`explain` runs the predictor's own rollout loop: its frames are the predictions to the bit, also where the
    convolutions compute in bfloat16 (a loop of its own, run eagerly, rounded differently there)."""
    from predictor import load_predictor
    from predictor.moving_mnist import generate

    context = generate(1, 8, rng=3, split="val")[0]
    for dtype in ("float32", "bfloat16"):
        monkeypatch.setenv("PREDICTOR_CONV_DTYPE", dtype)
        p = load_predictor(tiny_model_path, layers=0, cache=False)
        assert p.conv_dtype == dtype
        why = p.explain(context, 3)
        np.testing.assert_array_equal(why["frames"], p.predict(context, 3))
        np.testing.assert_array_equal(why["inputs"][1:], why["frames"][:-1])
        np.testing.assert_array_equal(why["inputs"][0], context[-1].astype(np.float32) / 255.0)
