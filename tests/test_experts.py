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
def trained():
    """The bundled default's network alone, on whole frames."""
    return load_predictor("default", layers=0, experts=(), cache=False)


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
    assert p.describe()["rollout"] == {"layers": 2, "experts": ["default"]}  # the card's, and what is in use
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


def test_copy_last_holds_still_parts_and_leaves_moving_ones_to_the_networks():
    """`copy-last` (hand-written) scores like a network: it wins the layers that stood still, exactly, and no part
    of a context whose digits move; Look inside explains a held part as no motion."""
    routed = load_predictor("default", experts=["any-speed", "copy-last"], cache=False)
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
