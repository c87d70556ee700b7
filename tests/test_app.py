"""gradio_client against a real `python app.py` server: every endpoint, real GIFs, bad uploads."""

import imageio.v3 as iio
import numpy as np
import pytest
from gradio_client import Client, handle_file


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def _frames(path):
    return iio.imread(path, index=None)


def test_predict_example_returns_truth_and_prediction_gifs(client):
    out = client.predict("example", 2, 0, 10, 10, "free-running", "default", api_name="/predict")
    truth, pred, panel = _frames(out[0]), _frames(out[1]), _frames(out[2])
    assert truth.shape[0] == 20 and pred.shape[0] == 20  # 10 seed + 10 predicted frames
    assert truth.shape[1:3] == pred.shape[1:3] == (192, 192)
    assert panel.shape[0] == 20 and panel.shape[2] > 3 * 192  # three labelled columns
    assert "copy last frame" in out[5]
    assert sorted(p.rsplit(".", 1)[1] for p in out[6]) == ["gif", "mp4", "npy"]
    npy = np.load(next(f for f in out[6] if f.endswith(".npy")))
    assert npy.shape == (10, 64, 64) and npy.dtype == np.float32 and 0 <= npy.min() <= npy.max() <= 1


def test_random_sequence_long_horizon_both_modes(client):
    out = client.predict("random", 0, 123, 5, 60, "both", "default", api_name="/predict")
    assert _frames(out[1]).shape[0] == 65
    assert "teacher-forced" in out[5] and "free-running" in out[5]


def test_horizon_beyond_truth_says_so(client, tmp_path):
    clip = tmp_path / "clip.npy"
    np.save(clip, np.random.default_rng(0).integers(0, 255, (12, 64, 64), dtype=np.uint8))
    out = client.predict(handle_file(str(clip)), 10, 8, "free-running", "default", api_name="/predict_upload")
    assert _frames(out[1]).shape[0] == 18
    assert "2 of the 8" in out[5]


def test_upload_preview_endpoint(client, tmp_path):
    gif = tmp_path / "rgb.gif"
    rgb = np.random.default_rng(1).integers(0, 255, (6, 100, 80, 3), dtype=np.uint8)  # colour: converted
    iio.imwrite(gif, rgb, extension=".gif")
    preview, info = client.predict(handle_file(str(gif)), api_name="/load_upload")
    assert _frames(preview).shape[0] == 6 and "6 frames" in info


@pytest.mark.parametrize("name,content", [
    ("text.gif", b"this is not a gif"),
    ("broken.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 200),
    ("empty.gif", b""),
])
def test_bad_uploads_give_errors_and_server_keeps_serving(client, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(path)), 10, 10, "free-running", "default", api_name="/predict_upload")
    assert "could not be decoded" in str(err.value) or "empty" in str(err.value)
    out = client.predict("example", 0, 0, 10, 3, "free-running", "default", api_name="/predict")
    assert _frames(out[1]).shape[0] == 13


def test_one_frame_clip_is_refused(client, tmp_path):
    gif = tmp_path / "one.gif"
    iio.imwrite(gif, np.zeros((1, 64, 64), np.uint8), extension=".gif")
    with pytest.raises(Exception, match="at least 2"):
        client.predict(handle_file(str(gif)), 1, 5, "free-running", "default", api_name="/predict_upload")


def test_out_of_range_controls_are_refused(client):
    with pytest.raises(Exception, match="Horizon|maximum value 60"):
        client.predict("example", 0, 0, 10, 500, "free-running", "default", api_name="/predict")
    with pytest.raises(Exception, match="Example index|maximum value 31"):
        client.predict("example", 99, 0, 10, 10, "free-running", "default", api_name="/predict")


def test_load_model_keeps_current_on_failure(client):
    source, card = client.predict("default", "hf://nobody/../x", "default", api_name="/load_model")
    assert source == "default" and "parameters" in card
    source, card = client.predict("default", "", "default", api_name="/load_model")
    assert source == "default" and "streaming" in card
