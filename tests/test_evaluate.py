"""`python -m train.evaluate` and the shared evaluation function."""

import json

import numpy as np

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
    assert np.isclose(r["empty"]["mean"]["mse"], empty)
    assert len(r["model"]["per_step"]["ssim"]) == 4


def test_cli_writes_json_and_card(tiny_model_path, tmp_path):
    out = tmp_path / "eval.json"
    result = cli.main(["--model", tiny_model_path, "--sequences", "3", "--context", "5", "--horizon", "3",
                       "--json", str(out), "--card"])
    saved = json.loads(out.read_text())
    assert saved["sequences"] == 3 and set(saved) >= {"model", "teacher_forced", "copy_last", "empty", "command"}
    card = json.loads(open(tiny_model_path.replace(".keras", ".json")).read())
    assert card["validation"]["model"]["mean"]["mse"] == result["model"]["mean"]["mse"]
