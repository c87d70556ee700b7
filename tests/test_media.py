"""Uploads: conversion to 64x64 grey, refusal of bad files before they are decoded; writing GIF/MP4/.npy."""

import os

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from predictor import media, render


def test_colour_and_alpha_frames_are_converted(tmp_path):
    rgba = np.zeros((3, 128, 128, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 128  # half-transparent red over black
    path = tmp_path / "rgba.npy"
    np.save(path, rgba)
    frames = media.read_clip(str(path))
    assert frames.shape == (3, 64, 64) and frames.dtype == np.uint8
    assert abs(int(frames[0, 10, 10]) - round(0.299 * 255 * 128 / 255)) <= 1


def test_non_square_frames_are_padded_not_stretched():
    frame = np.zeros((32, 64), np.uint8)
    frame[:, 28:36] = 255  # a vertical bar in the middle
    out = media.to_grey64(frame)
    assert out[:16].max() == 0 and out[-16:].max() == 0  # black padding above and below
    assert out[32, 30] == 255 and out[32, 10] == 0


@pytest.mark.parametrize("arr,expected", [
    (np.linspace(0, 1, 2 * 64 * 64, dtype=np.float32).reshape(2, 64, 64), 255),  # [0, 1] floats
    (np.full((2, 64, 64), 200.0), 200),  # [0, 255] floats
    (np.ones((2, 64, 64), bool), 255),
    (np.full((2, 64, 64), 255, np.int64), 255),
])
def test_npy_value_conventions(tmp_path, arr, expected):
    np.save(tmp_path / "a.npy", arr)
    assert media.read_clip(str(tmp_path / "a.npy")).max() == expected


def test_gif_roundtrip(tmp_path):
    seq = np.random.default_rng(0).integers(0, 255, (5, 64, 64), dtype=np.uint8)
    back = media.read_clip(media.write_gif(seq, str(tmp_path / "a.gif")))
    assert back.shape == (5, 64, 64) and np.abs(back.astype(int) - seq).max() <= 1


def test_palette_and_rgb_gifs(tmp_path):
    idx = np.stack([np.full((8, 8), render.CONTEXT, np.uint8), np.full((8, 8), render.PREDICTED, np.uint8)])
    frames = iio.imread(media.write_gif(idx, str(tmp_path / "p.gif"), palette=render.PALETTE), index=None, mode="RGB")
    assert tuple(frames[0, 0, 0]) == render.CONTEXT_RGB and tuple(frames[1, 0, 0]) == render.PREDICTED_RGB
    rgb = render.PALETTE[idx]
    back = iio.imread(media.write_gif(rgb, str(tmp_path / "rgb.gif")), index=None, mode="RGB")
    assert back.shape == (2, 8, 8, 3) and tuple(back[1, 0, 0]) == render.PREDICTED_RGB


def _decoded(path):
    """Every frame of a GIF as RGB, with its delay and the loop count: what a viewer shows."""
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append((np.asarray(im.convert("RGB")).copy(), im.info.get("duration"), im.info.get("loop")))
    return out


def test_a_palette_gif_shows_what_pillows_own_writer_shows_without_a_colour_table_per_frame(tmp_path):
    rng = np.random.default_rng(0)
    context, truth = rng.integers(0, 256, (3, 64, 64), np.uint8), rng.integers(0, 256, (4, 64, 64), np.uint8)
    panel = render.panel_frames(context, truth, truth[::-1])
    frames = np.concatenate([panel[:2], panel[1:2], panel[1:2], panel[2:]])  # a repeat: shown longer, not again
    pillow = [Image.fromarray(f, mode="P") for f in frames]
    for im in pillow:
        im.putpalette(render.PALETTE.tobytes())
    pillow[0].save(tmp_path / "pillow.gif", save_all=True, append_images=pillow[1:], duration=200, loop=0,
                   optimize=False, disposal=1)
    ours = media.write_gif(frames, str(tmp_path / "ours.gif"), fps=5, palette=render.PALETTE)
    shown = _decoded(ours)
    assert len(shown) == len(panel) and [d for _, d, _ in shown] == [200, 600] + [200] * (len(panel) - 2)
    for (a, da, la), (b, db, lb) in zip(_decoded(tmp_path / "pillow.gif"), shown):
        assert np.array_equal(a, b) and (da, la) == (db, lb) == (da, 0)
    # the same blocks, less each cropped frame's 768-byte local colour table
    assert os.path.getsize(ours) == os.path.getsize(tmp_path / "pillow.gif") - 768 * (len(panel) - 1)
    assert iio.imread(ours, index=None, mode="RGB").shape == (len(panel), *panel.shape[1:], 3)  # imageio reads it


def test_palette_gifs_need_indices_and_a_full_palette(tmp_path):
    with pytest.raises(ValueError, match=r"Received: frames \(2, 8, 8, 3\), palette \(256, 3\)"):
        media.write_gif(np.zeros((2, 8, 8, 3), np.uint8), str(tmp_path / "x.gif"), palette=render.PALETTE)
    with pytest.raises(ValueError, match=r"palette \(16, 3\)"):
        media.write_gif(np.zeros((2, 8, 8), np.uint8), str(tmp_path / "x.gif"), palette=render.PALETTE[:16])


def test_mp4_roundtrip(tmp_path):
    seq = np.zeros((6, 64, 64), np.uint8)
    seq[:, 20:40, 20:40] = 255
    back = media.read_clip(media.write_mp4(seq, str(tmp_path / "a.mp4")))
    assert back.shape == (6, 64, 64) and back[0, 30, 30] > 200 and back[0, 5, 5] < 30


def test_npy_writer_uses_the_predictor_convention(tmp_path):
    back = np.load(media.write_npy(np.full((2, 64, 64), 255, np.uint8), str(tmp_path / "a.npy")))
    assert back.dtype == np.float32 and back.max() == 1.0


@pytest.mark.parametrize("arr,match", [
    (np.zeros((4, 64), np.uint8), r"must have shape \(T, H, W\)"),
    (np.zeros((2, 64, 64, 2), np.uint8), r"must have shape"),
    (np.full((3, 64, 64), np.nan, np.float32), "NaN"),
    (np.full((3, 64, 64), np.inf, np.float64), "NaN or infinite"),
    (np.full((3, 64, 64), "a"), "real numbers"),
    (np.zeros((3, 64, 64), np.complex64), "real numbers"),
    (np.full((3, 64, 64), -1.0, np.float32), r"\[0, 1\] or \[0, 255\]"),
    (np.full((3, 64, 64), 256, np.uint16), r"\[0, 255\]"),
    (np.zeros((media.MAX_FRAMES + 1, 8, 8), np.uint8), "more than 300 frames, the limit"),
    (np.zeros((2, 1100, 1100), np.uint8), "1100x1100 pixels are too large; the limit is 1024x1024"),
    (np.zeros((1, 64, 64), np.uint8), "at least 2"),
    (np.zeros((0, 64, 64), np.uint8), "0 frames"),
])
def test_bad_npy(tmp_path, arr, match):
    path = tmp_path / "bad.npy"
    np.save(path, arr)
    with pytest.raises(ValueError, match=match):
        media.read_clip(str(path))


def test_npy_limits_are_checked_from_the_header_before_reading_data(tmp_path):
    # The header promises 4000x4000 frames, but the data is cut off: refused for its size, not as damaged.
    path = tmp_path / "huge.npy"
    np.save(path, np.zeros((2, 4000, 4000), np.uint8))
    path.write_bytes(path.read_bytes()[:4096])
    with pytest.raises(ValueError, match="4000x4000 pixels are too large"):
        media.read_clip(str(path))
    np.save(path, np.zeros((3, 64, 64), np.uint8))
    path.write_bytes(path.read_bytes()[:1000])  # within limits but truncated
    with pytest.raises(ValueError, match="damaged or truncated"):
        media.read_clip(str(path))


def test_pickled_npy_is_never_unpickled(pickled_npy):
    path, marker = pickled_npy
    with pytest.raises(ValueError, match="pickled"):
        media.read_clip(str(path))
    assert not marker.exists()


def test_huge_gif_frames_are_refused_before_decoding(tmp_path):
    path = tmp_path / "big.gif"
    Image.new("L", (4000, 4000)).save(path, save_all=True, append_images=[Image.new("L", (4000, 4000), 255)])
    with pytest.raises(ValueError, match="4000x4000 pixels are too large"):
        media.read_clip(str(path))
    # Only the header is needed: with its pixel data cut off it is still refused for its size.
    data = path.read_bytes()
    path.write_bytes(data[:200] + b";")
    with pytest.raises(ValueError, match="too large"):
        media.read_clip(str(path))


def test_a_later_gif_frame_that_grows_the_canvas_is_refused(tmp_path):
    # First frame 64x64, second frame placed so it extends the canvas to 2064x2064.
    small = Image.new("L", (64, 64))
    path = tmp_path / "grow.gif"
    small.save(path, save_all=True, append_images=[Image.new("L", (64, 64), 255)])
    data = bytearray(path.read_bytes())
    pos = data.index(b"\x2c", data.index(b"\x2c") + 1)  # second image descriptor: ',' left top width height
    data[pos + 1 : pos + 5] = (2000).to_bytes(2, "little") * 2  # move it to (2000, 2000)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="too large"):
        media.read_clip(str(path))


def test_truncated_gif_and_wrong_type(tmp_path):
    good = media.write_gif(np.random.default_rng(0).integers(0, 255, (5, 64, 64)), str(tmp_path / "g.gif"))
    data = open(good, "rb").read()
    (tmp_path / "t.gif").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="truncated"):
        media.read_clip(str(tmp_path / "t.gif"))
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ValueError, match="Unsupported"):
        media.read_clip(str(tmp_path / "x.txt"))
    (tmp_path / "t2.gif").write_text("GIF89a but not really")
    with pytest.raises(ValueError, match="GIF"):
        media.read_clip(str(tmp_path / "t2.gif"))


def test_too_many_gif_frames_stops_early(tmp_path):
    path = tmp_path / "long.gif"
    frames = np.zeros((media.MAX_FRAMES + 5, 16, 16), np.uint8)
    frames[np.arange(len(frames)), 0, np.arange(len(frames)) % 16] = 255  # frames differ: the GIF keeps them all
    iio.imwrite(path, frames, extension=".gif")
    with pytest.raises(ValueError, match="more than 300"):
        media.read_clip(str(path))


def test_video_limits(tmp_path):
    big = tmp_path / "big.mp4"
    iio.imwrite(big, np.zeros((2, 1088, 1088), np.uint8), extension=".mp4", fps=5, codec="libx264")
    with pytest.raises(ValueError, match="1088x1088 pixels are too large"):
        media.read_clip(str(big))
    long = tmp_path / "long.mp4"
    iio.imwrite(long, np.zeros((media.MAX_FRAMES + 20, 16, 16), np.uint8), extension=".mp4", fps=25,
                codec="libx264")
    with pytest.raises(ValueError, match="more than 300"):
        media.read_clip(str(long))
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 200)
    with pytest.raises(ValueError, match="could not be decoded"):
        media.read_clip(str(tmp_path / "bad.mp4"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        media.read_clip(str(tmp_path / "empty.mp4"))


def _plain_tile(indices, marker):
    """One tile as `predictor.render` drew it frame by frame before its tiles were drawn all at once."""
    out = np.full((render.TILE, render.TILE), marker, np.uint8)
    out[render.BORDER : -render.BORDER, render.BORDER : -render.BORDER] = np.repeat(
        np.repeat(indices, render.SCALE, 0), render.SCALE, 1)
    return out


@pytest.mark.parametrize("context, horizon, known", [(10, 10, 10), (1, 5, 2), (3, 8, 0)])
def test_panel_and_column_tiles_equal_the_plain_frame_by_frame_drawing(context, horizon, known):
    rng = np.random.default_rng(context)
    ctx = rng.integers(0, 256, (context, 64, 64), dtype=np.uint8)
    truth = rng.integers(0, 256, (known, 64, 64), dtype=np.uint8)
    pred = rng.uniform(0, 1, (horizon, 64, 64)).astype(np.float32)
    rows, width = slice(render.HEADER, render.HEADER + render.TILE), render.TILE
    plain = [_plain_tile(render.GREY_INDEX[f], render.CONTEXT) for f in ctx]
    plain += [_plain_tile(render.GREY_INDEX[f], render.PREDICTED) for f in truth]
    plain += [render._missing_tile()] * (horizon - known)
    np.testing.assert_array_equal(render.tile_frames(ctx, truth, horizon), np.stack(plain))
    column = render.column_frames(ctx, truth, horizon, "truth")
    np.testing.assert_array_equal(column[:, rows, render.GAP : render.GAP + width], np.stack(plain))
    panel = render.panel_frames(ctx, truth, pred)
    x = render.GAP + 2 * (render.TILE + render.GAP)  # the |error| column
    p8 = media.as_uint8(pred)
    for i in range(context + horizon):
        k = i - context
        if i < context or k < known:
            err = 0 * ctx[0] if i < context else np.abs(p8[k].astype(int) - truth[k]).astype(np.uint8)
            want = _plain_tile(render.HEAT_INDEX[err], render.CONTEXT if i < context else render.PREDICTED)
        else:
            want = render._missing_tile()
        np.testing.assert_array_equal(panel[i, rows, x : x + width], want)
