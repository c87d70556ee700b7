"""The family table (`python -m train.evaluate --suite`, `predictor.suite`) and the generator's pixel rule."""

import hashlib
import json

import numpy as np
import pytest

from predictor import load_predictor
from predictor.evaluation import evaluate
from predictor.moving_mnist import draw, generate, tracks
from predictor.suite import Bar, run_suite
from train import evaluate as cli


def test_default_generation_is_unchanged_and_round_moves_at_most_one_pixel():
    # The bytes the generator made before the pixel rule existed: every sequence ever reported stays the same.
    seqs = generate(4, 10, rng=0, split="val")
    assert hashlib.sha256(seqs.tobytes()).hexdigest() == (
        "d0620f08d3fd6a696ea167cc52e673bff5ea95a6b657041b703dce7c2495e622")
    assert np.array_equal(seqs, generate(4, 10, rng=0, split="val", pixel_rule="truncate"))
    for speed in (3.6, (0.0, 4.0)):
        digits_t, pos_t = tracks(32, 20, 2, speed, rng=5, split="val")
        digits_r, pos_r = tracks(32, 20, 2, speed, rng=5, split="val", pixel_rule="round")
        assert np.array_equal(digits_t, digits_r)  # same digits, same motion
        step = pos_r - pos_t
        assert step.min() == 0 and step.max() == 1  # never below the truncated pixel, at most one past it
        assert 0.3 < (step > 0).mean() < 0.7  # about half of the positions round up
        assert pos_r.max() <= 36
        made = generate(32, 20, speed=speed, rng=5, split="val", pixel_rule="round")
        assert np.array_equal(made[3], draw(digits_r[3], pos_r[3]))
    with pytest.raises(ValueError, match="pixel_rule must be one of"):
        generate(1, 2, rng=0, split="val", pixel_rule="nearest")


def test_bars_read_numbers_baselines_and_other_cells():
    cells = {"standard": {"results": {"model": {"mse": 40.0}}},
             "x": {"results": {"model": {"mse": 43.0, "ssim": 0.9}, "copy_last": {"mse": 43.0}}}}
    assert Bar("mse", "<=", 45).check(cells, "x")["holds"] is True
    assert Bar("ssim", ">=", 0.91).check(cells, "x")["holds"] is False
    assert Bar("mse", "<", "copy_last").check(cells, "x") == {
        "metric": "mse", "bar": "< copy-last", "value": 43.0, "limit": 43.0, "holds": False}
    assert Bar("mse", "<=", "standard", 1.1).check(cells, "x")["holds"] is True  # 43 <= 44
    assert Bar("mse", "<=", "standard", 1.05).check(cells, "x")["holds"] is False  # 43 > 42
    assert Bar("mse", "<=", "missing", 1.1).check(cells, "x")["holds"] is None  # that cell was not run


@pytest.mark.slow  # every cell of the suite rolled out, with its baselines: ~4 s of CPU
def test_suite_end_to_end_on_a_few_sequences(tiny_model_path, tmp_path, capsys):
    out = tmp_path / "suite.json"
    result = cli.main(["--suite", "--model", tiny_model_path, "--sequences", "4", "--cells", "standard", "still",
                       "rounded", "speed-2", "--json", str(out)])
    saved = json.loads(out.read_text())
    assert saved["cells"] == json.loads(json.dumps(result["cells"]))
    assert list(saved["cells"]) == ["standard", "still", "speed-2", "rounded"]  # the suite's order, not the flags'
    for name, cell in saved["cells"].items():
        assert list(cell["results"]) == ["model", "previous", "copy_last", "empty"]
        for column in cell["results"].values():
            assert column["mse"] >= 0 and len(column["mse_per_step"]) == cell["steps"]
        assert cell["holds"] in (True, False) and cell["bars"]
    standard, still = saved["cells"]["standard"], saved["cells"]["still"]
    assert standard["steps"] == 30 and standard["results"]["empty"]["late"] == 1.0
    assert 0 < standard["results"]["previous"]["ssim"] <= 1 and "ssim" not in still["results"]["model"]
    # Still digits: the last context frame is the future, exactly.
    assert still["results"]["copy_last"]["mse"] == 0.0 < still["results"]["empty"]["mse"]
    assert still["bars"][0]["holds"] == (still["results"]["model"]["mse"] <= 10)
    # The rounded cell's bar reads the standard cell's model MSE.
    bar = saved["cells"]["rounded"]["bars"][0]
    assert bar["limit"] == pytest.approx(1.1 * standard["results"]["model"]["mse"])
    # The same numbers as the project's evaluation on the same sequences (frames 1-10 of the 30 rolled out).
    seqs = generate(4, 40, rng=7, split="val")
    ref = evaluate(load_predictor(tiny_model_path), seqs, 10, 10, teacher_forced=False)
    for column in ("model", "copy_last", "empty"):
        for metric in ("mse", "ssim"):
            assert standard["results"][column][metric] == pytest.approx(ref[column]["mean"][metric], rel=1e-4)
    printed = capsys.readouterr().out
    assert "| still: 0 px/frame |" in printed and "0.0 |" in printed and "All bars hold: no" in printed


def test_suite_without_the_cell_a_bar_refers_to():
    class CopyLast:
        def predict_batch(self, ctx, horizon):
            return np.repeat(ctx[:, -1:], horizon, axis=1).astype(np.float32) / 255.0

    report = run_suite({"copy": CopyLast()}, sequences=2, cells=["rounded", "still"], batch_size=1)
    assert report["cells"]["rounded"]["holds"] is None and report["all_hold"] is None
    assert report["cells"]["still"]["results"]["copy"]["mse"] == 0.0 and report["cells"]["still"]["holds"] is True
    with pytest.raises(ValueError, match="cells among standard"):
        run_suite({"copy": CopyLast()}, cells=["fast"])


def test_suite_flags_fail_clearly(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--suite", "--model", "no-such-model", "--sequences", "1"])
    assert "Cannot load model 'no-such-model'" in str(e.value.code) and "bundled model name" in str(e.value.code)
    with pytest.raises(SystemExit) as e:
        cli.main(["--suite", "--models", "missing.keras", "--sequences", "1"])
    assert "Model file not found: 'missing.keras'" in str(e.value.code)
    for bad in (["--models", "previous"], ["--suite", "--speed", "2"], ["--suite", "--cells", "fast"]):
        with pytest.raises(SystemExit):
            cli.parse_args(bad)
    err = capsys.readouterr().err
    assert "--models and --cells go with --suite" in err and "--suite draws its own motions" in err
