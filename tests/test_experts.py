"""Experts: each part of a context is rolled out by the network that predicts its last context frames best."""

import json
import shutil

import numpy as np
import pytest

from predictor import load_predictor
from predictor.moving_mnist import generate
from predictor.predictor import CONSULT, EVIDENCE


@pytest.fixture(scope="module")
def contexts():
    return generate(4, 20, rng=11, split="val").astype(np.float32) / 255


@pytest.fixture(scope="module")
def routed():
    """The bundled default with both experts, named (as its card has them): one load, its graphs traced once."""
    return load_predictor("default", experts=["any-speed", "copy-last"], tracks=False, cache=False)


@pytest.fixture(scope="module")
def trained():
    """The bundled default's network alone, on whole frames."""
    return load_predictor("default", layers=0, experts=(), cache=False)


@pytest.mark.slow  # three predictors' graphs traced (an untrained one, it routed, the default): ~6 s of CPU
def test_an_expert_that_follows_the_context_rolls_it_out(tiny_model_path, contexts, trained):
    """An untrained network cannot predict Moving MNIST: its error on the context's last frames is high, so the
    trained expert is asked, wins every part, and the prediction is exactly the expert's own rollout."""
    untrained = load_predictor(tiny_model_path, layers=0)
    routed = load_predictor(tiny_model_path, layers=0, experts=["default"])
    assert routed.expert_names == ["default"] and len(routed.rollouts) == 2
    error = untrained.rollouts[0].start(contexts[:, :10, ..., None], EVIDENCE)[2].numpy()
    assert (error > CONSULT).all()  # the untrained model does not follow these contexts
    assert all(routed.chosen_models(c[:10]) == [1] for c in contexts)
    np.testing.assert_array_equal(routed.predict_batch(contexts[:, :10], 6), trained.predict_batch(contexts[:, :10], 6))
    why = routed.explain(contexts[0, :10], 3)  # Look inside explains the network that rolled the part out
    np.testing.assert_allclose(why["frames"], trained.predict(contexts[0, :10], 3), atol=1e-5)


def test_a_model_that_follows_the_context_is_not_second_guessed(tiny_model_path, contexts, trained):
    routed = load_predictor("default", layers=0, experts=[tiny_model_path])
    error = trained.rollouts[0].start(contexts[:, :10, ..., None], EVIDENCE)[2].numpy()
    assert (error > CONSULT).any()  # asked somewhere, ...
    assert all(routed.chosen_models(c[:10]) == [0] for c in contexts)  # ... the untrained expert loses everywhere
    np.testing.assert_array_equal(routed.predict_batch(contexts[:, :10], 5), trained.predict_batch(contexts[:, :10], 5))


def test_one_context_frame_gives_no_evidence_and_the_model_rolls_out(tiny_model_path, contexts):
    routed = load_predictor(tiny_model_path, layers=0, experts=["default"])
    assert routed.chosen_models(contexts[0, :1]) == [0]
    assert routed.predict(contexts[0, :1], 2).shape == (2, 64, 64)


def test_a_card_may_name_only_bundled_models_as_experts(tiny_model_path, tmp_path):
    path = str(tmp_path / "m.keras")
    shutil.copyfile(tiny_model_path, path)
    card = json.load(open(tiny_model_path.replace(".keras", ".json")))
    for bad in (["/etc/passwd.keras"], ["hf://someone/else"], [tiny_model_path]):
        json.dump({**card, "rollout": {"experts": bad}}, open(path.replace(".keras", ".json"), "w"))
        with pytest.raises(ValueError, match="may only name bundled models"):
            load_predictor(path, cache=False)
    json.dump({**card, "rollout": {"layers": 2, "experts": ["default"]}}, open(path.replace(".keras", ".json"), "w"))
    p = load_predictor(path, cache=False)
    assert (p.layers, p.expert_names) == (2, ["default"])
    assert p.describe()["rollout"] == {"layers": 2, "tracks": False, "experts": ["default"]}  # the card's, in use
    assert load_predictor(path, cache=False, experts=()).experts == []  # the caller's choice wins over the card


def test_an_expert_that_cannot_load_is_a_clear_error():
    with pytest.raises(ValueError, match="Cannot load expert 'no-such-model'"):
        load_predictor("default", experts=["no-such-model"])


def test_export_names_experts_on_the_card(tiny_model_path, tmp_path, capsys):
    from train import export as export_cli

    out = str(tmp_path / "routed.keras")
    export_cli.main(["--model", tiny_model_path, "--layers", "2", "--experts", "default", "--output", out])
    card = json.load(open(out.replace(".keras", ".json")))
    assert {k: card["rollout"][k] for k in ("layers", "experts")} == {"layers": 2, "experts": ["default"]}
    assert card["rollout"]["expert_training"]["default"] == load_predictor("default").info["training"]
    p = load_predictor(out, cache=False)
    assert p.expert_names == ["default"] and p.layers == 2
    from demo.report import model_markdown  # the app's card says what each network was trained on

    assert "Expert network `default`" in model_markdown(p) and "2 digits bouncing at 3.6 px/frame" in model_markdown(p)
    with pytest.raises(SystemExit):
        export_cli.main(["--model", tiny_model_path, "--layers", "2", "--experts", tiny_model_path, "--output", out])
    assert "--experts takes bundled model names" in capsys.readouterr().err


def test_bundled_models_keep_their_earlier_names():
    from demo.models import check_source
    from predictor.loading import ALIASES, bundled_models

    from predictor.loading import resolve

    for old, new in ALIASES.items():
        assert new in bundled_models() and old not in bundled_models()
        assert resolve(old) == resolve(new) and resolve(new)[1].endswith(f"{new}.keras")
        assert check_source(old) == new  # the app accepts share links made with the old name


def test_copy_last_holds_still_parts_and_leaves_moving_ones_to_the_networks(routed):
    """`copy-last` (hand-written) scores like a network: it wins the layers that stood still, exactly, and no part
    of a context whose digits move; Look inside explains a held part as no motion."""
    assert routed.expert_names == ["any-speed", "copy-last"]
    still = generate(3, 10, 2, 0.0, rng=11, split="val").astype(np.float32) / 255
    pred = routed.predict_batch(still, 5)
    np.testing.assert_allclose(pred, np.repeat(still[:, -1:], 5, axis=1), atol=1e-6)
    assert all(2 in routed.chosen_models(c) for c in still)
    moving = generate(3, 10, 2, 3.6, rng=11, split="val").astype(np.float32) / 255
    assert not any(2 in routed.chosen_models(c) for c in moving)
    why = routed.explain(still[0], 3)
    np.testing.assert_allclose(why["frames"], np.repeat(still[0, -1:], 3, axis=0), atol=1e-6)
    assert np.all(why["motion"] == 0)


FAMILIES = {"still": dict(speed=0.0), "1 px/frame": dict(speed=1.0), "2 px/frame": dict(speed=2.0),
            "3 px/frame": dict(speed=3.0), "4 px/frame": dict(speed=4.0), "standard": dict(speed=3.6),
            "three digits": dict(num_digits=3), "one digit": dict(num_digits=1)}


def plain_routing(p, context, horizon):
    """The routing rule, spelled out one part at a time with nothing skipped: every model reads every part to the end
    (no early stop), the experts are compared in order where the model's error is above CONSULT, and the winner rolls
    the part out alone. -> (prediction `(horizon, 64, 64)`, chosen model per part)."""
    from predictor.predictor import MARGIN

    frames, chosen = [], []
    for part in p.rollout_layers(context)[..., None]:
        reads = [r.start(part[None], EVIDENCE) for r in p.rollouts]
        errors = [r[2].numpy()[0] for r in reads]  # float32, compared as the predictor compares them
        k = 0
        if errors[0] > CONSULT:
            for j in range(1, len(reads)):
                if errors[j] < MARGIN * errors[k]:
                    k = j
        chosen.append(k)
        frames.append(p.rollouts[k].go_on(reads[k][0], reads[k][1], horizon).numpy()[0, ..., 0])
    return np.clip(np.max(frames, axis=0), 0, 1), chosen


def test_the_rollout_picks_and_predicts_as_the_plain_rule_over_motion_families(routed):
    """The predictor reads experts only where asked, stops an expert's reading of a part it cannot win, and rolls
    the models' parts out at once where they fit the cores: none of it may change a choice or a frame. Checked
    against `plain_routing` on contexts of every motion family (each asks the experts somewhere, and each expert
    wins somewhere), one context at a time and all in one batch."""
    p = routed
    contexts = np.concatenate([generate(1, 10, rng=5, split="val", **kw) for kw in FAMILIES.values()])
    batch = p.predict_batch(contexts, 6)
    winners = set()
    for name, context, batched in zip(FAMILIES, contexts, batch):
        want, chosen = plain_routing(p, context.astype(np.float32) / 255, 6)
        assert p.chosen_models(context) == chosen, name
        np.testing.assert_allclose(p.predict(context, 6), want, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(batched, want, atol=1e-5, err_msg=name)
        winners |= set(chosen)
    assert winners == {0, 1, 2}  # the model, the any-speed network and copy-last each roll something out


def test_an_expert_stops_reading_a_part_it_cannot_win(contexts):
    """`Rollout.start(beat=...)`: a row whose error stays below its beat is read exactly as without one; a row that
    reaches it stops, and its error is then a lower bound, at least the beat."""
    r = load_predictor("any-speed", layers=0, experts=(), cache=False).rollouts[0]
    x = contexts[:2, :10, ..., None]
    first, states, full = r.start(x, EVIDENCE)
    full = full.numpy()
    assert (full > 0).all()
    for beat in ([2 * full[0], 2 * full[1]], [0.5 * full[0], 2 * full[1]], [0.5 * full[0], 0.5 * full[1]]):
        beat = np.float32(beat)
        for rows in ([0], [1], [0, 1]):  # a batch of one, and two rows (two loops, each stopping on its own)
            f, s, error = r.start(x[rows], EVIDENCE, beat[rows])
            for i, row in enumerate(rows):
                if full[row] < beat[row]:
                    assert error.numpy()[i] == full[row]
                    np.testing.assert_array_equal(f[i], first[row])
                    for a, b in zip(tf_flat(s), tf_flat(states)):
                        np.testing.assert_array_equal(a[i], b[row])
                else:
                    assert beat[row] <= error.numpy()[i] <= full[row]


def tf_flat(states):
    import tensorflow as tf

    return [np.asarray(a) for a in tf.nest.flatten(states)]


def test_copy_last_spares_the_network_a_still_part(routed):
    """With copy-last last among the experts, the network before it stops reading a part copying predicts exactly
    (after one evidence frame: its error is above 0 there), and copy-last still wins it."""
    p = routed
    still = generate(1, 10, 2, 0.0, rng=11, split="val")[0].astype(np.float32) / 255
    x = p.rollout_layers(still)[..., None]
    best = p.rollouts[0].start(x, EVIDENCE)[2].numpy()
    ask = np.flatnonzero(best > CONSULT)
    assert len(ask)
    network, copy = [read() for read in p._expert_reads(x, ask, best)]
    full = p.rollouts[1].start(x[ask], EVIDENCE)[2].numpy()
    assert (copy[2].numpy() == 0).all() and (0 < network[2].numpy()).all() and (network[2].numpy() < full).all()
    assert p.chosen_models(still) == [2] * len(x)


def test_beaten_by_is_the_bound_the_choice_uses():
    from predictor.predictor import MARGIN, NORMAL, _beaten_by

    error = np.float32([0, 1e-45, 1e-38, 0.001, 0.1, 0.3, 1 / 3, 1.0, 7.5])
    error = np.concatenate([error, np.random.default_rng(0).random(200, np.float32)])
    v = _beaten_by(error)
    assert v.dtype == np.float32 and (error < MARGIN * v).all()  # a part that won with v loses to `error`
    below = np.nextafter(v, np.float32(0))
    tight = v > NORMAL  # the least such v (not the floor that keeps it a normal float32)
    assert not (error[tight] < MARGIN * below[tight]).any()
