"""`python -m train.evaluate` and the shared evaluation function."""

import json
import shutil

import numpy as np
import pytest

from predictor.evaluation import evaluate
from predictor.moving_mnist import generate
from train import evaluate as cli


class CopyLast:
    """A stand-in predictor with a known answer: it repeats the last context frame."""

    def predict_batch(self, ctx, horizon):
        return np.repeat(ctx[:, -1:], horizon, axis=1).astype(np.float32) / 255.0

    def one_step(self, frames):
        return frames[:-1].astype(np.float32) / 255.0


def test_copy_last_predictor_scores_exactly_the_baseline():
    seqs = generate(4, 8, rng=0, split="val")
    r = evaluate(CopyLast(), seqs, context=4, horizon=4)
    assert np.isclose(r["model"]["mean"]["mse"], r["copy_last"]["mean"]["mse"])
    empty = np.mean([(s[4:].astype(float) / 255) ** 2 for s in seqs]) * 4096
    copy = np.mean([((s[4:].astype(float) - s[3]) / 255) ** 2 for s in seqs]) * 4096
    assert np.isclose(r["copy_last"]["mean"]["mse"], copy)
    copy_mae = np.mean([np.abs(s[4:].astype(float) - s[3]) / 255 for s in seqs]) * 4096
    assert np.isclose(r["copy_last"]["mean"]["mae"], copy_mae)
    assert np.isclose(r["empty"]["mean"]["mse"], empty)
    assert len(r["model"]["per_step"]["ssim"]) == 4


def test_cli_writes_json_and_card(tiny_model_path, tmp_path):
    model = str(tmp_path / "tiny.keras")  # a copy: the shared tiny model's card stays as the other tests expect
    shutil.copyfile(tiny_model_path, model)
    shutil.copyfile(tiny_model_path.replace(".keras", ".json"), model.replace(".keras", ".json"))
    out = tmp_path / "eval.json"
    result = cli.main(["--model", model, "--sequences", "3", "--context", "5", "--horizon", "3",
                       "--json", str(out), "--card"])
    saved = json.loads(out.read_text())
    assert saved["sequences"] == 3 and set(saved) >= {"model", "teacher_forced", "copy_last", "empty", "command"}
    card = json.loads(open(model.replace(".keras", ".json")).read())
    assert card["validation"]["model"]["mean"]["mse"] == result["model"]["mean"]["mse"]
    assert "validation" not in json.loads(open(tiny_model_path.replace(".keras", ".json")).read())


def test_motion_probe_flags(tiny_model_path, capsys):
    result = cli.main(["--model", tiny_model_path, "--sequences", "2", "--context", "3", "--horizon", "2",
                       "--no-teacher-forced", "--speed", "3", "--directions", "0", "90"])
    assert result["speed"] == 3.0 and result["directions"] == [0.0, 90.0]
    assert "speed 3.0, directions [0.0, 90.0]" in capsys.readouterr().out
    for bad in (["--speed", "5"], ["--speed", "3", "--card"], ["--directions", "0", "--source", "file"]):
        with pytest.raises(SystemExit):
            cli.parse_args(bad)
    assert "must be in [0, 4.0]" in capsys.readouterr().err
    for bad in (["--sequences", "0"], ["--horizon", "0"]):  # the flags tools.oracle and tools.bound share
        with pytest.raises(SystemExit):
            cli.parse_args(bad)
        assert "--sequences, --context, --horizon must be >= 1" in capsys.readouterr().err


def test_windows_say_whether_digits_are_still_there(tiny_model_path, capsys):
    """With a horizon of 30, the report and the printout give frames 21-30 against empty frames."""
    result = cli.main(["--model", tiny_model_path, "--sequences", "2", "--context", "3", "--horizon", "30",
                       "--no-teacher-forced"])
    late = result["windows"]["21-30"]
    mse = result["model"]["per_step"]["mse"][20:30]
    empty = result["empty"]["per_step"]["mse"][20:30]
    assert late["model_mse"] == pytest.approx(np.mean(mse)) and late["empty_mse"] == pytest.approx(np.mean(empty))
    assert late["late_ratio"] == pytest.approx(np.mean(mse) / np.mean(empty))
    assert set(result["windows"]) == {"1-10", "11-20", "21-30"}  # 31-60 needs a horizon of 60
    # The means are the standard 10 -> 10 figures even when the curves go further.
    assert result["headline"] == 10
    assert result["model"]["mean"]["mse"] == pytest.approx(np.mean(result["model"]["per_step"]["mse"][:10]))
    assert f"frames 21-30 ahead: MSE {late['model_mse']:.1f}" in capsys.readouterr().out


def test_cli_on_a_local_original_format_file(tiny_model_path, tmp_path):
    data = np.swapaxes(generate(20, 8, rng=1, split="val"), 0, 1)  # time-first, like mnist_test_seq.npy
    np.save(tmp_path / "seq.npy", data)
    result = cli.main(["--model", tiny_model_path, "--source", "file", "--data-file", str(tmp_path / "seq.npy"),
                       "--sequences", "5", "--context", "4", "--horizon", "4", "--no-teacher-forced"])
    assert result["sequences"] == 2 and "teacher_forced" not in result  # the file's last tenth: 2 of 20


def test_curves_plot_reports(tiny_model_path, tmp_path):
    from PIL import Image

    from train import curves

    report = tmp_path / "eval.json"
    cli.main(["--model", tiny_model_path, "--sequences", "2", "--context", "3", "--horizon", "6", "--no-teacher-forced",
              "--json", str(report)])
    out = curves.main([f"tiny={report}", f"again={report}", "--out", str(tmp_path / "curves.png")])
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 800 and len(img.convert("L").getcolors(2**16)) > 10
