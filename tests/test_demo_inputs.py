"""demo.inputs: the app's one number parser and how it picks frames (fast: no model, no server)."""

import numpy as np
import pytest

from demo import inputs
from predictor.predictor import check_horizon


@pytest.mark.parametrize("value, expected", [(3, 3), (3.0, 3), ("3", 3), (" 7 ", 7), (np.int64(5), 5), (60, 60)])
def test_ui_int_takes_whole_numbers_as_the_page_and_api_send_them(value, expected):
    assert inputs.ui_int(value, "Frames to predict", 1, 60) == expected
    assert type(inputs.ui_int(value, "Frames to predict", 1, 60)) is int


@pytest.mark.parametrize("value, message", [
    (3.5, "whole number from 1 to 60. Received: 3.5"), ("3.5", "must be a whole number. Received: '3.5'"),
    (True, "must be a whole number. Received: True"), (None, "must be a whole number. Received: None"),
    ("ten", "Received: 'ten'"), (0, "from 1 to 60. Received: 0"), (61, "Received: 61"), ("61", "Received: '61'"),
    (float("inf"), "Received: inf"), (float("nan"), "Received: nan")])
def test_ui_int_refuses_anything_else_naming_the_control(value, message):
    with pytest.raises(ValueError, match="^Frames to predict .*" + message.replace(".", r"\.")):
        inputs.ui_int(value, "Frames to predict", 1, 60)


def test_the_app_is_lenient_where_the_python_api_is_strict():
    """The documented difference: the app parses "3" (an API client's or a link's text), the library refuses it."""
    assert inputs.parse_horizon("3") == 3 == check_horizon(inputs.parse_horizon("3"))
    with pytest.raises(ValueError, match="horizon must be an integer"):
        check_horizon("3")
    with pytest.raises(ValueError, match="from 1 to 60"):  # the app's limit is its own, under the library's 1000
        inputs.parse_horizon(61)
    assert check_horizon(61) == 61


def test_select_frames_example_random_and_own_frames():
    ctx, truth = inputs.select_frames("example", 3, context=10, horizon=12)
    assert ctx.shape == (10, 64, 64) and truth.shape == (12, 64, 64) and ctx.dtype == np.uint8
    np.testing.assert_array_equal(np.concatenate([ctx, truth]), inputs.examples()[3][:22])
    a = inputs.select_frames("random", random_seed="7", context=4, horizon=5)
    b = inputs.select_frames("random", random_seed=7.0, context=4, horizon=5)
    assert a[0].shape == (4, 64, 64) and a[1].shape == (5, 64, 64)
    np.testing.assert_array_equal(a[0], b[0])
    own = np.arange(6 * 64 * 64, dtype=np.uint32).reshape(6, 64, 64).astype(np.uint8)
    ctx, truth = inputs.select_frames("upload", upload=own, context=4, horizon=10)
    assert len(ctx) == 4 and len(truth) == 2  # the rest of the clip: shorter than the horizon
    assert len(inputs.select_frames("compose", upload=own, context=6, horizon=3)[1]) == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="nope"), "Input must be one of example, random, upload, compose. Received: 'nope'"),
    (dict(kind="upload"), "Upload a GIF, MP4 or .npy clip first"),
    (dict(kind="compose"), "Make a sequence first"),
    (dict(kind="example", example_index=32), "Example index must be a whole number from 0 to 31"),
    (dict(kind="example", context=51), "Context frames must be a whole number from 1 to 50"),
    (dict(kind="random", random_seed=-1), "Random seed must be a whole number from 0 to 4294967295"),
    (dict(kind="upload", upload=np.zeros((3, 64, 64), np.uint8), context=5),
     "The clip has 3 frames, so at most 3 can be context frames; lower 'Context frames'"),
])
def test_select_frames_says_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        inputs.select_frames(**kwargs)


def test_check_mode():
    assert inputs.check_mode("both", "10", 4) == (10, 4)
    with pytest.raises(ValueError, match="Mode must be one of free-running, teacher-forced, both"):
        inputs.check_mode("sideways", 10, 10)
    with pytest.raises(ValueError, match="needs ground truth for all 10 frames; this input has 4"):
        inputs.check_mode("teacher-forced", 10, 4)
    with pytest.raises(ValueError, match="needs ground truth after the context frames, and this input has none"):
        inputs.check_mode("teacher-forced", 10, 0)


def test_thumbnails_and_upload_preview(app_cache_in_tmp_path):
    thumbs = inputs.thumbnails()
    assert len(thumbs) == len(inputs.examples()) and thumbs[0].shape == (128, 128)
    np.testing.assert_array_equal(thumbs[2][::2, ::2], inputs.examples()[2][9])
    path = inputs.preview_upload(inputs.examples()[0][:4])
    assert path.startswith(app_cache_in_tmp_path) and path.endswith("-upload.gif")
    import imageio.v3 as iio
    assert iio.imread(path, index=None).shape[:3] == (4, 256, 256)
