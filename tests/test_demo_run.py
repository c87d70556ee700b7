"""demo.run and demo.actions: one prediction with every output, through a real (tiny, untrained) model, and the
Gradio glue (`demo.page`) — no server."""

import os

import gradio as gr
import imageio.v3 as iio
import numpy as np
import pytest

from demo import actions, page
from demo.best import BEST, best_possible
from demo.inputs import select_frames
from demo.run import run
from predictor import load_predictor


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    return load_predictor(tiny_model_path)


def test_run_builds_every_output_in_the_cache_folder(tiny, app_cache_in_tmp_path):
    ctx, truth = select_frames("example", 1, context=4, horizon=3)
    calls = []
    out = run(tiny, ctx, truth, "3", "both", progress=lambda f, desc: calls.append(f),
              best=lambda: best_possible("example", 1, context=4, horizon=3))
    files = out["files"]
    assert set(files) == {"truth", "prediction", "panel", "strip", "npy", "gif", "mp4"}
    assert all(p.startswith(app_cache_in_tmp_path) and os.path.getsize(p) > 0 for p in files.values())
    assert len(iio.imread(files["prediction"], index=None)) == 7  # 4 context + 3 predicted frames
    assert out["prediction"].shape == (3, 64, 64) and out["prediction"].dtype == np.float32
    assert set(out["table"]["run"]) == {"free-running", "teacher-forced", "copy last frame", "empty frames", BEST}
    assert calls == sorted(calls) and len(calls) == 3 and "Server time" in out["summary"]
    assert set(out["timings"]) == {"model", "files", "metrics", "wait", "total"}


def test_a_failing_best_line_costs_only_that_line(tiny):
    ctx, truth = select_frames("example", 0, context=3, horizon=2)
    out = run(tiny, ctx, truth, 2, best=lambda: 1 / 0)
    assert set(out["table"]["run"]) == {"free-running", "copy last frame", "empty frames"}


def test_actions_predict_returns_the_pages_outputs(monkeypatch, tiny):
    monkeypatch.setattr(actions, "get_predictor", lambda source: tiny)
    out = actions.predict("random", 0, "5", "4", "2", "free-running", "default")
    assert len(out) == len(actions.PREDICTION_OUTPUTS) and out[4] is out[5]
    assert [os.path.splitext(p)[1] for p in out[7]] == [".npy", ".gif", ".mp4"]


def test_share_link():
    assert actions.share_link("http://h/?kind=x", "random", 0, 7, 8, 14, "both", "default") == (
        "http://h/?kind=random&example=0&seed=7&context=8&horizon=14&mode=both&model=default")
    assert actions.share_link("http://h/", "upload", 0, 0, 10, 10, "both", "default") == actions.NO_LINK
    assert actions.share_link("http://h/", "example", 0, 0, 10, 10, "both", "/etc/passwd") == actions.NO_LINK


def test_endpoint_keeps_the_signature_and_turns_failures_into_gr_errors():
    handler = page.endpoint(actions.predict, "predict")
    import inspect
    params = inspect.signature(handler).parameters
    assert list(params)[:7] == ["kind", "example_index", "random_seed", "context", "horizon", "mode", "model"]
    assert isinstance(params["progress"].default, gr.Progress) and handler.__doc__ == actions.predict.__doc__
    with pytest.raises(gr.Error, match="Context frames must be a whole number from 1 to 50"):
        handler("example", 0, 0, 99, 10, "free-running", "default")
    with pytest.raises(gr.Error, match=r"Something went wrong on the server \(ZeroDivisionError\)"):
        page.endpoint(lambda: 1 / 0, "divide")()


def test_published_outputs_are_links_in_gradios_cache_which_it_serves_as_they_are(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    made = []
    for name in ("a-panel.gif", "a-predicted.npy"):
        made.append(str(tmp_path / name))
        with open(made[-1], "wb") as f:
            f.write(name.encode())
    table = object()
    outputs = (made[0], table, "**summary** /not/a/file", [made[1]])
    served = page.in_gradio_cache(outputs)
    assert served[1] is table and served[2] == outputs[2] and isinstance(served[3], list)
    assert os.path.dirname(served[0]) == os.path.dirname(served[3][0])  # one folder per result
    for original, copy in ((made[0], served[0]), (made[1], served[3][0])):
        # the same file name (what an API client saves it as), inside Gradio's cache, the very same file: a hard
        # link, so nothing was hashed or copied
        assert copy.startswith(str(tmp_path / "gradio")) and os.path.basename(copy) == os.path.basename(original)
        assert os.path.samefile(copy, original) and open(copy, "rb").read() == open(original, "rb").read()
        # inside Gradio's cache a file is served where it is: nothing hashed or copied again
        block = gr.Image()
        block.GRADIO_CACHE = str(tmp_path / "gradio")
        assert block.move_resource_to_block_cache(copy) == copy
    # another result gets its own folder; where no link can be made, Gradio's own hashed copy
    assert os.path.dirname(page.in_gradio_cache((made[0],))[0]) != os.path.dirname(served[0])
    monkeypatch.setattr(os, "link", lambda *a: (_ for _ in ()).throw(OSError(18, "Invalid cross-device link")))
    from gradio import processing_utils
    assert page.in_gradio_cache((made[0],))[0] == processing_utils.save_file_to_cache(made[0], str(tmp_path / "gradio"))
