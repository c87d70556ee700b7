"""gradio_client against a real `python app.py` server (one per test session, see conftest.py).

Every endpoint; real multi-frame GIFs with the expected frame counts, sizes and markings; and every kind of
bad input, each answered by a clear error after which the server still answers.
"""

import os
import re
import time

import httpx
import imageio.v3 as iio
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from predictor import render

# Every test that uses the server (`client`, `app_url`) is marked slow by conftest.py; the others run in the fast loop.

PANEL = (render.HEADER + render.TILE + render.FOOTER, 3 * render.TILE + 4 * render.GAP)  # (324, 830)
COLUMN = (render.HEADER + render.TILE + render.FOOTER, render.TILE + 2 * render.GAP)  # (324, 282)
BORDER_PIXEL = (render.HEADER + 2, render.GAP + 2)  # inside the coloured border of the first tile


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def _frames(path) -> np.ndarray:
    """All frames of a GIF as RGB `(N, H, W, 3)`."""
    return iio.imread(path, index=None, mode="RGB")


def _near(pixel, rgb, tol=12) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(rgb)) <= tol))


def _predict(client, kind="example", index=0, seed=0, context=10, horizon=10, mode="free-running", model="default"):
    return client.predict(kind, index, seed, context, horizon, mode, model, api_name="/predict")


def _assert_still_serving(client):
    out = _predict(client, horizon=2)
    assert len(_frames(out[1])) == 12


def _upload(client, path, context=10, horizon=10, mode="free-running"):
    return client.predict(handle_file(str(path)), context, horizon, mode, "default", api_name="/predict_upload")


# --- what a person gets ---------------------------------------------------------------------------------


def test_predict_example_returns_truth_and_prediction_gifs(client):
    truth, pred, panel, strip, mse, ssim, summary, downloads = _predict(client, index=2)
    t, p, pa = _frames(truth), _frames(pred), _frames(panel)
    assert t.shape[:3] == p.shape[:3] == (20, *COLUMN)  # 10 seed + 10 predicted frames, labelled
    assert pa.shape[:3] == (20, *PANEL)  # truth | prediction | error
    # Context frames are framed blue, predicted frames orange.
    assert _near(t[0][BORDER_PIXEL], render.CONTEXT_RGB) and _near(t[9][BORDER_PIXEL], render.CONTEXT_RGB)
    assert _near(t[10][BORDER_PIXEL], render.PREDICTED_RGB) and _near(pa[19][BORDER_PIXEL], render.PREDICTED_RGB)
    # During the context frames the prediction column shows them itself.
    tile = slice(render.HEADER, render.HEADER + render.TILE)
    assert np.array_equal(t[3, tile], p[3, tile]) and not np.array_equal(t[15, tile], p[15, tile])
    assert Image.open(strip).size[0] > 500
    rows = mse["data"]
    assert mse["data"] == ssim["data"] and len(rows) == 40  # free-running, copy-last, empty, best possible: 10 steps
    assert {r[1] for r in rows} == {"free-running", "copy last frame", "empty frames", "best possible"}
    assert "copy last frame" in summary and "free-running" in summary and "perfect reader" in summary
    mean_mse = lambda run: np.mean([r[2] for r in rows if r[1] == run])  # noqa: E731  columns: step, run, MSE, SSIM
    assert mean_mse("best possible") < 0.5 * mean_mse("free-running") < mean_mse("copy last frame")
    assert sorted(os.path.splitext(p)[1] for p in downloads) == [".gif", ".mp4", ".npy"]
    npy = np.load(next(f for f in downloads if f.endswith(".npy")), allow_pickle=False)
    assert npy.shape == (10, 64, 64) and npy.dtype == np.float32 and 0 <= npy.min() <= npy.max() <= 1
    mp4 = iio.imread(next(f for f in downloads if f.endswith(".mp4")), index=None)
    assert mp4.shape[:3] == (10, 256, 256)
    gif = next(f for f in downloads if f.endswith(".gif"))
    with Image.open(gif) as im:  # identical consecutive frames may be merged: count the playing time
        played = sum(im.seek(i) or im.info["duration"] for i in range(im.n_frames))
    assert played == 10 * 200 and im.size == (64, 64)


def test_random_sequence_long_horizon_both_modes(client):
    out = _predict(client, "random", seed=123, context=5, horizon=60, mode="both")
    assert len(_frames(out[1])) == 65 and len(_frames(out[0])) == 65
    assert "teacher-forced" in out[6] and "free-running" in out[6] and "over 60" in out[6]
    assert {r[1] for r in out[4]["data"]} == {"free-running", "teacher-forced", "copy last frame", "empty frames",
                                              "best possible"}


def test_random_sequence_is_reproducible_from_its_seed(client):
    a = _frames(_predict(client, "random", seed=7, horizon=3)[0])
    b = _frames(_predict(client, "random", seed=7, horizon=3)[0])
    c = _frames(_predict(client, "random", seed=8, horizon=3)[0])
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_horizon_beyond_truth_says_so(client):
    out = _predict(client, context=10, horizon=60, mode="both")  # examples have 60 frames: truth for 50
    truth = _frames(out[0])
    assert len(truth) == 70 and len(_frames(out[1])) == 70
    assert _near(truth[-1][BORDER_PIXEL], render.MISSING_RGB)  # "no ground truth" tile
    assert _near(truth[59][BORDER_PIXEL], render.PREDICTED_RGB)
    assert "50 of the 60" in out[6]


def test_upload_npy_with_short_truth(client, tmp_path):
    clip = tmp_path / "clip.npy"
    np.save(clip, np.random.default_rng(0).integers(0, 255, (12, 64, 64), dtype=np.uint8))
    out = _upload(client, clip, context=10, horizon=8)
    assert len(_frames(out[1])) == 18
    assert "2 of the 8" in out[6]
    assert {r[1] for r in out[4]["data"]} == {"free-running", "copy last frame", "empty frames"}  # no paths: no best


def test_upload_without_any_truth(client, tmp_path):
    clip = tmp_path / "clip.npy"
    np.save(clip, np.random.default_rng(0).random((4, 32, 32)).astype(np.float32))  # floats in [0, 1], resized
    out = _upload(client, clip, context=4, horizon=3)
    assert len(_frames(out[1])) == 7 and "No ground truth" in out[6] and out[4]["data"] == []


def test_upload_preview_endpoint_converts_colour(client, tmp_path):
    gif = tmp_path / "rgb.gif"
    rgb = np.random.default_rng(1).integers(0, 255, (6, 100, 80, 3), dtype=np.uint8)
    iio.imwrite(gif, rgb, extension=".gif")
    preview, info = client.predict(handle_file(str(gif)), api_name="/load_upload")
    frames = _frames(preview)
    assert frames.shape[:3] == (6, 64 * render.SCALE, 64 * render.SCALE) and "6 frames" in info


def _rgba_npy(path):
    rgba = np.zeros((5, 96, 96, 4), np.uint8)
    rgba[:, 30:60, 30:60] = (255, 0, 0, 128)  # half-transparent red square over transparent black
    np.save(path, rgba)


def _rgb_mp4(path):
    frames = np.zeros((6, 96, 128, 3), np.uint8)
    for i in range(6):
        frames[i, 30:60, 10 + 10 * i : 40 + 10 * i] = (0, 200, 255)
    iio.imwrite(path, frames, extension=".mp4", fps=5, codec="libx264", macro_block_size=16)


def _alpha_gif(path):
    frames = [Image.new("RGBA", (80, 80), (0, 0, 0, 0)) for _ in range(4)]
    for i, im in enumerate(frames):
        im.paste((255, 255, 255, 255), (10 + 8 * i, 20, 40 + 8 * i, 50))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=200, loop=0, disposal=2)


@pytest.mark.parametrize("name,make,n", [("rgba.npy", _rgba_npy, 5), ("rgb.mp4", _rgb_mp4, 6),
                                         ("alpha.gif", _alpha_gif, 4)])
def test_colour_and_alpha_uploads_are_converted_not_refused(client, tmp_path, name, make, n):
    path = tmp_path / name
    make(path)
    out = _upload(client, path, context=2, horizon=3)
    truth = _frames(out[0])
    assert len(truth) == 5 and len(_frames(out[1])) == 5
    assert truth[0].max() > 100  # the content survived the conversion to grey
    _, info = client.predict(handle_file(str(path)), api_name="/load_upload")
    assert f"{n} frames" in info


# --- bad input: a clear error, and the server keeps serving ---------------------------------------------


def _gif(path, frames):
    iio.imwrite(path, np.asarray(frames, np.uint8), extension=".gif")


def _moving(n, side=16):
    frames = np.zeros((n, side, side), np.uint8)
    frames[np.arange(n), 0, np.arange(n) % side] = 255  # frames differ, so the GIF keeps them all
    return frames


def _truncated_gif(path):
    _gif(path.with_suffix(".full.gif"), np.random.default_rng(0).integers(0, 255, (8, 64, 64)))
    data = path.with_suffix(".full.gif").read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _huge_gif(path):
    Image.new("L", (4000, 4000)).save(path, save_all=True, append_images=[Image.new("L", (4000, 4000), 255)])


BAD_UPLOADS = {
    "text.gif": (lambda p: p.write_text("this is not a gif"), "could not be read as a GIF"),
    "png.gif": (lambda p: Image.new("L", (64, 64)).save(p, format="PNG"), "is a PNG image"),
    "truncated.gif": (_truncated_gif, "truncated"),
    "corrupt.mp4": (lambda p: p.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 400), "could not be decoded"),
    "empty.gif": (lambda p: p.write_bytes(b""), "empty"),
    "one.gif": (lambda p: _gif(p, np.zeros((1, 64, 64))), "at least 2"),
    "long.gif": (lambda p: _gif(p, _moving(305)), "more than 300 frames"),
    "huge.gif": (_huge_gif, "4000x4000 pixels are too large"),
    "shape.npy": (lambda p: np.save(p, np.zeros((4, 64), np.uint8)), r"must have shape \(T, H, W\)"),
    "complex.npy": (lambda p: np.save(p, np.zeros((3, 64, 64), np.complex64)), "real numbers"),
    "strings.npy": (lambda p: np.save(p, np.full((3, 64, 64), "a")), "real numbers"),
    "nan.npy": (lambda p: np.save(p, np.full((3, 64, 64), np.nan, np.float32)), "NaN"),
    "range.npy": (lambda p: np.save(p, np.full((3, 64, 64), 300, np.int16)), r"\[0, 255\]"),
    "npz.npy": (lambda p: p.write_bytes(_npz_bytes(p)), "not a readable .npy"),
    "clip.txt": (lambda p: p.write_text("hello"), "Invalid file type|Unsupported file type"),
}


def _npz_bytes(p):
    np.savez(p.with_suffix(".npz"), a=np.zeros((3, 64, 64)))
    return p.with_suffix(".npz").read_bytes()


@pytest.mark.parametrize("name", sorted(BAD_UPLOADS))
def test_bad_uploads_give_clear_errors_and_server_keeps_serving(client, tmp_path, name):
    make, message = BAD_UPLOADS[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(Exception, match=message):
        _upload(client, path)
    with pytest.raises(Exception, match=message):  # the preview says the same
        client.predict(handle_file(str(path)), api_name="/load_upload")
    _assert_still_serving(client)


def test_pickled_npy_is_refused_and_never_unpickled(client, pickled_npy):
    path, marker = pickled_npy
    with pytest.raises(Exception, match="pickled Python objects"):
        _upload(client, path)
    assert not marker.exists()
    _assert_still_serving(client)


def test_upload_over_the_size_limit_is_refused_by_the_server(app_url, client, tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.zeros((300, 128, 560), np.uint8))  # 21.5 MB: over the 20 MB limit
    with pytest.raises(Exception, match="maximum file size"):  # gradio_client refuses before sending...
        _upload(client, path)
    with open(path, "rb") as f:  # ...and the server refuses a raw upload that ignores the limit
        r = httpx.post(app_url + "gradio_api/upload", files={"files": ("big.npy", f)}, timeout=60)
    assert r.status_code == 413
    _assert_still_serving(client)


@pytest.mark.parametrize("args,message", [
    (dict(horizon=0), "less than minimum value 1"),
    (dict(horizon=61), "greater than maximum value 60"),
    (dict(horizon=2.5), "whole number"),
    (dict(context=0), "less than minimum value 1"),
    (dict(context=51), "greater than maximum value 50"),
    (dict(index=32), "Example index must be a whole number from 0 to 31"),
    (dict(index=-1), "Example index"),
    (dict(kind="random", seed=-5), "less than minimum value 0"),
    (dict(kind="webcam"), "not in the list of choices"),
    (dict(mode="psychic"), "not in the list of choices|Mode must be one of"),
    (dict(context=10, horizon=60, mode="teacher-forced"), "Teacher-forced mode .* needs ground truth for all 60"),
    (dict(kind="upload"), "Upload a GIF, MP4 or .npy clip first"),
    (dict(model="/etc/passwd"), "Unknown model"),
    (dict(model="assets/default.keras"), "Unknown model"),
    (dict(model="hf://a/b/../../c"), "Hub model must be written"),
])
def test_out_of_range_controls_are_refused(client, args, message):
    with pytest.raises(Exception, match=message):
        _predict(client, **args)
    _assert_still_serving(client)


def test_more_seed_frames_than_the_clip_has(client, tmp_path):
    path = tmp_path / "short.npy"
    np.save(path, np.zeros((8, 64, 64), np.uint8))
    with pytest.raises(Exception, match="The clip has 8 frames, so at most 8 can be context frames"):
        _upload(client, path, context=10)
    assert len(_frames(_upload(client, path, context=8, horizon=2)[1])) == 10  # all 8 as seed: no truth, fine


# --- models -----------------------------------------------------------------------------------------------


def test_load_model_returns_the_model_card(client):
    source, card = client.predict("default", "", "default", api_name="/load_model")
    assert source == "default" and "parameters" in card and "StreamingConvLSTM" in card


@pytest.mark.parametrize("hub_id,message", [
    ("hf://../../etc", "Hub model must be written"),
    ("hf://a/b/../../c", "Hub model must be written"),
    ("hf://a/..", "Hub model must be written"),
    ("hf://a/b%2F..%2Fc", "Hub model must be written"),
    ("hf://a/b/sub/model.keras", "Hub model must be written"),
    ("hf://a/b?revision=x", "Hub model must be written"),
    ("/etc/passwd", "Unknown model"),
    ("../assets/default", "Unknown model"),
    ("assets/default.keras", "Unknown model"),
])
def test_load_model_refuses_path_tricks_and_keeps_the_current_model(client, hub_id, message):
    with pytest.raises(Exception, match=message) as err:
        client.predict("default", hub_id, "default", api_name="/load_model")
    assert "The current model, 'default', stays in use" in str(err.value)
    _assert_still_serving(client)


# --- temporary files ----------------------------------------------------------------------------------------


def test_outputs_are_written_to_the_pruned_cache(client, app_cache):
    stale = [os.path.join(app_cache, f"stale{i}.gif") for i in range(3)]
    for path in stale:  # files of a request 20 minutes ago: past KEEP_SECONDS, so the next request deletes them
        with open(path, "wb") as f:
            f.write(b"GIF89a")
        os.utime(path, (time.time() - 20 * 60,) * 2)
    # An input no other test asks for: a finished result served again from the app's result cache writes no files,
    # so it does not prune either.
    truth = _predict(client, index=6, horizon=2)[0]
    stem = os.path.basename(truth).split("-")[0]
    mine = [f for f in os.listdir(app_cache) if f.startswith(stem)]
    assert len(mine) == 7  # truth/prediction/panel GIFs, strip, npy/gif/mp4 downloads
    assert not any(os.path.exists(p) for p in stale)


def test_prune_bounds_the_cache_by_age_count_and_size(tmp_path):
    from demo import session

    now = 1_000_000.0
    for i in range(50):  # file i is i minutes old, 1 kB
        path = tmp_path / f"f{i:03d}"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - 60 * i, now - 60 * i))
    # Age: files older than 30 minutes go.
    assert session.prune(str(tmp_path), now, keep_seconds=30 * 60 + 1, max_files=1000, max_bytes=10**9) == 19
    # Count: only the 20 newest stay...
    assert session.prune(str(tmp_path), now, keep_seconds=10**6, max_files=20, max_bytes=10**9) == 11
    assert sorted(os.listdir(tmp_path)) == [f"f{i:03d}" for i in range(20)]
    # ...size: at most 10 kB, but never a file younger than min_age (still being served).
    assert session.prune(str(tmp_path), now, keep_seconds=10**6, max_files=1000, max_bytes=10_000, min_age=150) == 10
    assert len(os.listdir(tmp_path)) == 10
    assert session.prune(str(tmp_path), now, keep_seconds=10**6, max_files=1, max_bytes=1, min_age=150) == 7
    assert sorted(os.listdir(tmp_path)) == ["f000", "f001", "f002"]  # 0, 1 and 2 minutes old: too young


# --- the benchmark command ------------------------------------------------------------------------------


def test_appbench_measures_the_running_server(app_url):
    from demo import appbench

    assert appbench.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert appbench.percentile([1.0] * 19 + [9.0], 0.95) == 1.0 and appbench.percentile([1.0] * 9 + [9.0], 0.95) == 9.0
    latencies = appbench.one_client(app_url, 2, 0)
    # A click that built every output and fetched three GIFs: tens of milliseconds at least, seconds at most.
    assert all(isinstance(t, float) and 0.02 < t < 60 for t in latencies), latencies
    split = appbench.server_split(app_url)
    assert re.fullmatch(r"model \d+ ms · files \d+ ms · metrics \d+ ms", split), split


# --- make your own, compare, look inside ---------------------------------------------------------------------


def _drawing(tmp_path, draw=True):
    """A sketchpad value as the page sends it: a transparent RGBA canvas, a black 9 drawn on it (or nothing)."""
    from PIL import Image, ImageDraw

    im = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    if draw:
        d = ImageDraw.Draw(im)
        d.ellipse((90, 40, 190, 140), outline=(0, 0, 0, 255), width=20)
        d.line((185, 90, 150, 250), fill=(0, 0, 0, 255), width=20)
    path = tmp_path / ("nine.png" if draw else "blank.png")
    im.save(path)
    return {"background": None, "layers": [], "composite": handle_file(str(path)), "id": None}


def _compose(client, drawing, digit_a="drawn", digit_b="3", frames=30, horizon=12, context=10):
    return client.predict(digit_a, digit_b, drawing, 4, 30, 60, 3.6, 30, 4, 200, 2.5, frames, context, horizon,
                          "free-running", "default", api_name="/compose")


def test_compose_a_drawn_nine_and_predict_it(client, tmp_path):
    truth, pred, panel, strip, mse, ssim, summary, downloads = _compose(client, _drawing(tmp_path))
    assert len(_frames(panel)) == 22 and len(_frames(truth)) == 22  # 10 seed + 12 predicted frames
    assert "over 12 predicted frames" in summary
    # its paths are known: the best possible line too
    assert {r[1] for r in mse["data"]} == {"free-running", "copy last frame", "empty frames", "best possible"}
    frames = np.load(downloads[0]["path"] if isinstance(downloads[0], dict) else downloads[0])
    assert frames.shape == (12, 64, 64) and frames.max() > 0.5  # the digits are still drawn


def test_compose_refuses_a_blank_drawing_and_no_digits(client, tmp_path):
    with pytest.raises(Exception, match="The drawing is blank"):
        _compose(client, _drawing(tmp_path, draw=False), digit_b="none")
    with pytest.raises(Exception, match="Choose at least one digit"):
        _compose(client, _drawing(tmp_path), digit_a="none", digit_b="none")
    with pytest.raises(Exception, match="sequence you made has 12 frames, so at most 12 can be context frames"):
        _compose(client, _drawing(tmp_path), frames=12, context=20)
    _assert_still_serving(client)


def test_compare_two_models_on_one_input(client):
    panel, mse, ssim, summary = client.predict("random", 0, 5, 10, 10, "default", "default", api_name="/compare")
    frames = _frames(panel)
    assert frames.shape[:3] == (20, COLUMN[0], 4 * COLUMN[1])  # truth | A | B | best possible, 10 + 10 frames
    runs = {row[1] for row in mse["data"]}
    assert runs == {"default", "default (again)", "copy last frame", "empty frames", "best possible"}
    assert "| default (again) |" in summary
    with pytest.raises(Exception, match="Unknown model 'nope'"):
        client.predict("random", 0, 5, 10, 10, "default", "nope", api_name="/compare")


def test_inspect_draws_one_frame_per_prediction(client):
    gif, summary = client.predict("example", 4, 0, 10, 8, "default", api_name="/inspect")
    frames = _frames(gif)
    assert len(frames) == 8 and frames.shape[1:3] == (44 + 256, 2 * 256 + 24)
    assert "moved copies" in summary and "Server time" in summary


def test_every_predicting_event_shares_one_wide_queue():
    """Predictions (and only they) share the "predict" queue of `page.PREDICTS`: a cached result must not wait behind
    two computations; the model's own work is bounded in demo.batcher. No server needed: the Blocks' functions."""
    import app
    from demo import page

    fns = list(app.demo.fns.values())
    shared = {f.api_name for f in fns if f.concurrency_id == "predict"}
    assert shared == {"predict", "predict_1", "predict_2", "predict_3", "predict_upload", "compose"}
    assert all(f.concurrency_limit == page.PREDICTS["concurrency_limit"] == 32 for f in fns
               if f.concurrency_id == "predict")
    assert {f.concurrency_limit for f in fns if f.api_name in ("compare", "inspect", "load_model")} == {"default"}
