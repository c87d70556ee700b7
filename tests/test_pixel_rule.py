"""Reading the pixel rule back from a context's tracks (`predictor.pixel_rule`), and the rule expert that takes the
layers of contexts that show it (`rollout.expert_rules`, `train.export --expert-rules`) and shares those of contexts
that do not (`UNTOLD_MIX`)."""

import json

import numpy as np
import pytest

from predictor import load_predictor
from predictor.moving_mnist import PIXEL_RULES, bounce, draw, draws
from predictor.pixel_rule import axis_rules, context_rule
from predictor.predictor import UNTOLD_MIX


def drawn(rule: str, n: int = 40, digits: int = 2, frames: int = 10, seed: int = 5):
    """`n` contexts `(n, frames, 64, 64)` float32 in [0, 1] of validation digits drawn with `rule`, and their true
    box tracks `(n, digits, frames, 2)`: the same float tracks under either rule for one seed."""
    chosen, start, vel = draws(n, digits, rng=seed, split="val")
    pos = bounce(start, vel, frames, rule)
    frames_ = np.stack([draw(chosen[i], pos[i]) for i in range(n)]).astype(np.float32) / 255
    return frames_, pos


@pytest.mark.parametrize("rule", PIXEL_RULES)
def test_a_true_track_never_rules_out_its_own_rule_and_a_bounce_often_tells(rule):
    _, pos = drawn(rule, n=200)
    told = [axis_rules(axis) for axis in pos.reshape(-1, pos.shape[-2], 2).transpose(0, 2, 1).reshape(-1, 10)]
    turned = [r for r in told if r is not None]
    assert all(rule in r for r in turned)  # never wrong
    assert sum(r == (rule,) for r in turned) > 0.5 * len(turned)  # most bounces tell
    assert len(turned) > 0.3 * len(told)


def test_the_same_track_offset_by_the_split_still_tells():
    """A `SplitDigits` track is the true box plus a constant offset: the walls are read from the bounce."""
    x = bounce(np.array([30.4]), np.array([3.6]), 10, "round")[:, 0]  # reaches the far wall
    assert axis_rules(x) == ("round",) == axis_rules(x + 3) == axis_rules(x - 5)
    assert axis_rules(np.arange(10) * 3) is None  # no bounce: nothing tells
    assert axis_rules(np.array([10, 13, 17, 20, 20, 17, 14, 10, 7, 3])) == ()  # a wall where none can be


@pytest.mark.parametrize("rule", PIXEL_RULES)
def test_split_contexts_are_told_their_rule_and_almost_never_the_other(rule):
    from predictor.separate import split_digits

    frames, _ = drawn(rule, n=40)
    told = [context_rule(s.tracks) for s in map(split_digits, frames) if s.usable]
    assert sum(r == rule for r in told) >= 0.5 * len(told)
    assert sum(r not in (rule, None) for r in told) <= 1


def test_a_rule_expert_takes_the_own_speed_layers_of_contexts_that_show_its_rule(tmp_path, capsys):
    from demo.report import model_markdown
    from train import export as export_cli

    out = str(tmp_path / "rules.keras")
    export_cli.main(["--model", "default", "--layers", "3", "--experts", "whole-frames", "any-speed", "copy-last",
                     "--own-speeds", "3.2", "3.75", "--expert-rules", "any-speed", "round", "--output", out])
    assert json.load(open(out.replace(".keras", ".json")))["rollout"]["expert_rules"] == {"any-speed": "round"}
    p = load_predictor(out, cache=False)
    assert p.describe()["rollout"]["expert_rules"] == {"any-speed": "round"}
    assert "`any-speed` was trained on digits drawn with rounded positions" in model_markdown(p)
    rounded, _ = drawn("round", n=12)
    truncated, _ = drawn("truncate", n=12)
    rule_of = {r: [p.prepare(c) for c in frames] for r, frames in (("round", rounded), ("truncate", truncated))}
    shown = [q for q in rule_of["round"] if (q.rules == PIXEL_RULES.index("round")).any()]
    assert len(shown) >= 4 and not any((q.rules == PIXEL_RULES.index("round")).any() for q in rule_of["truncate"])
    for q, c in zip(rule_of["round"], rounded):
        own = (q.speeds >= 3.2) & (q.speeds <= 3.75) & (q.rules == PIXEL_RULES.index("round"))
        chosen = np.array(p.chosen_models(c))
        assert (chosen[own] == 2).all() and (chosen[~own] != 2).all()  # never by evidence
    q = shown[0]
    shown_context = rounded[next(i for i, r in enumerate(rule_of["round"]) if r is q)]
    own = np.flatnonzero((q.speeds >= 3.2) & (q.speeds <= 3.75))
    by_rule = p._rollout_whole(q.parts, 6, q.speeds, q.rules)[own]
    assert np.allclose(by_rule, p.rollouts[2].roll(q.parts[own], 6).numpy(), atol=1e-5)
    assert not np.allclose(by_rule, p.rollouts[0].roll(q.parts[own], 6).numpy(), atol=1e-3)
    # No bounce tells the rule: the own-speed layers are the model's rollout and the rule expert's, mixed
    i, untold = next((i, q) for i, q in enumerate(rule_of["truncate"]) if (q.rules == -1).all())
    own = np.flatnonzero((untold.speeds >= 3.2) & (untold.speeds <= 3.75))
    model, expert = (p.rollouts[k].roll(untold.parts[own], 6).numpy() for k in (0, 2))
    mixed = p._rollout_whole(untold.parts, 6, untold.speeds, untold.rules)[own]
    assert len(own) and 0 < UNTOLD_MIX < 1 and not np.allclose(model, expert, atol=1e-3)
    np.testing.assert_allclose(mixed, (1 - UNTOLD_MIX) * model + UNTOLD_MIX * expert, atol=1e-5)
    np.testing.assert_allclose(p.explain(truncated[i], 6)["frames"], p.predict(truncated[i], 6), atol=1e-5)
    without = load_predictor(out, experts=["whole-frames", "copy-last"], cache=False)  # the rule expert left out
    assert without.rule_experts() == {} and (without.prepare(shown_context).rules == -1).all()
    for bad in (["--expert-rules", "copy-last", "round"], ["--expert-rules", "any-speed", "ceil"],
                ["--expert-rules", "any-speed", "round", "--expert-speeds", "any-speed", "3", "4"]):
        with pytest.raises(SystemExit):
            export_cli.main(["--model", "default", "--layers", "3", "--experts", "any-speed", "whole-frames",
                             "copy-last", "--own-speeds", "3.2", "3.75", *bad, "--output", out])
    err = capsys.readouterr().err
    assert "--expert-rules names network experts" in err and "expert_rules must map expert names" in err
