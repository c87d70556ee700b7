"""The rollout's shortcut for parts nobody scores: read and roll out in one graph call, the same frames bit for bit."""

import numpy as np
import pytest

from predictor import load_predictor
from predictor.moving_mnist import PIXEL_RULES, generate
from predictor.predictor import CONSULT, EVIDENCE, asked, choose


@pytest.fixture(scope="module")
def default():
    """The bundled default as `load_predictor()` gives it (digit layers, both experts, its own speeds), its tracks
    off: these tests are of the networks' routing (tests/test_rigid.py has the parts drawn along their tracks)."""
    return load_predictor(tracks=False, cache=False)


@pytest.fixture(scope="module")
def contexts():
    return generate(3, 10, rng=21, split="val").astype(np.float32)[..., None] / 255


@pytest.mark.parametrize("rows", [1, 3])  # a batch of one, and one run as two halves (2 + 1)
def test_roll_is_start_without_evidence_then_go_on(default, contexts, rows):
    rollout = default.rollouts[0]
    first, states, _ = rollout.start(contexts[:rows], 0)
    slow = rollout.go_on(first, states, 7).numpy()
    fast = rollout.roll(contexts[:rows], 7).numpy()
    assert fast.shape == (rows, 7, 64, 64, 1) and fast.dtype == np.float32
    assert np.array_equal(fast, slow)


def test_parts_at_the_models_own_speeds_skip_the_evidence_and_roll_out_the_same(default):
    """Digit layers at the default's own speeds are its own whatever their evidence says: the predictor rolls them
    out in one call without scoring them, and gets exactly what scoring first and then rolling out gave."""
    truncated = PIXEL_RULES.index("truncate")  # a bounce tells the rule (untold, `rounded` is mixed in: UNTOLD_MIX)
    context = next(c for c in generate(16, 10, rng=0, split="val")
                   if default.split(c) is not None and (default.prepare(c).rules == truncated).all())
    prepared = default.prepare(context)
    own, _ = default._speed_rule(len(prepared.parts), prepared.speeds)
    assert own.all()  # the generator's 3.6 px/frame: the default's own speeds
    runs, chosen = default._start(prepared.parts, prepared.speeds)  # the route with evidence
    assert not chosen.any()
    slow = default.rollouts[0].go_on(runs[0][1], runs[0][2], 10).numpy()
    fast = default._rollout_whole(prepared.parts, 10, prepared.speeds, prepared.rules)
    assert np.array_equal(fast, slow)
    assert np.array_equal(default.predict(context, 10), np.clip(slow.max(axis=0)[..., 0], 0, 1))


def test_parts_off_the_models_speeds_are_still_scored_and_routed(default):
    """A still context (no digit at the default's speeds) still goes through the evidence: copy-last wins it."""
    still = np.repeat(generate(1, 1, rng=3, split="val")[0], 10, axis=0)
    assert default.chosen_models(still)[0] == len(default.rollouts) - 1  # copy-last, the last expert
    assert np.array_equal(default.predict(still, 5), np.repeat(still[-1:] / np.float32(255), 5, axis=0))


def test_asked_is_the_rule_choose_and_the_predictor_share(default):
    error = np.array([0.0, CONSULT / 2, 2 * CONSULT, 0.5, 0.5], np.float32)
    own = np.array([False, False, False, False, True])
    assert asked(error, own).tolist() == [False, False, True, True, False]
    assert asked(error).tolist() == [False, False, True, True, True]
    x = np.zeros((5, EVIDENCE + 2, 64, 64, 1), np.float32)
    assert default._asked(x, error, own).tolist() == [2, 3]
    errors = np.stack([error, np.zeros_like(error)], 1)  # an expert that is exact wins wherever it is asked
    assert choose(errors, own=own).tolist() == [0, 0, 1, 1, 0]
