"""Uploads: conversion to 64x64 grey and refusal of bad files before they are decoded."""

import imageio.v3 as iio
import numpy as np
import pytest

from predictor import media


def test_colour_and_alpha_frames_are_converted(tmp_path):
    rgba = np.zeros((3, 128, 128, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 128  # half-transparent red over black
    path = tmp_path / "rgba.npy"
    np.save(path, rgba)
    frames = media.read_clip(str(path))
    assert frames.shape == (3, 64, 64) and frames.dtype == np.uint8
    assert abs(int(frames[0, 10, 10]) - round(0.299 * 255 * 128 / 255)) <= 1


def test_gif_roundtrip(tmp_path):
    seq = np.random.default_rng(0).integers(0, 255, (5, 64, 64), dtype=np.uint8)
    path = media.write_gif(seq, str(tmp_path / "a.gif"))
    back = media.read_clip(path)
    assert back.shape == (5, 64, 64)


def test_mp4_roundtrip(tmp_path):
    seq = np.zeros((6, 64, 64), np.uint8)
    seq[:, 20:40, 20:40] = 255
    back = media.read_clip(media.write_mp4(seq, str(tmp_path / "a.mp4")))
    assert back.shape == (6, 64, 64) and back[0, 30, 30] > 200 and back[0, 5, 5] < 30


@pytest.mark.parametrize("arr,match", [
    (np.zeros((4, 64), np.uint8), "must be"),
    (np.full((3, 64, 64), np.nan, np.float32), "NaN"),
    (np.array(["a", "b"]), "numbers|must be"),
    (np.zeros((400, 64, 64), np.uint8), "limit"),
    (np.zeros((2, 4000, 4000), np.uint8), "limit"),
    (np.zeros((1, 1100, 1100), np.uint8), "limits"),
])
def test_bad_npy(tmp_path, arr, match):
    path = tmp_path / "bad.npy"
    np.save(path, arr)
    with pytest.raises(ValueError, match=match):
        media.read_clip(str(path))


def test_pickled_npy_is_never_unpickled(tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickled"):
        media.read_clip(str(path))


def test_huge_gif_frames_refused(tmp_path):
    path = tmp_path / "big.gif"
    iio.imwrite(path, np.zeros((2, 1500, 1500), np.uint8), extension=".gif")
    with pytest.raises(ValueError, match="too large"):
        media.read_clip(str(path))


def test_truncated_gif_and_wrong_type(tmp_path):
    good = media.write_gif(np.zeros((5, 64, 64), np.uint8), str(tmp_path / "g.gif"))
    data = open(good, "rb").read()
    (tmp_path / "t.gif").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError):
        media.read_clip(str(tmp_path / "t.gif"))
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ValueError, match="Unsupported"):
        media.read_clip(str(tmp_path / "x.txt"))


def test_too_many_frames_stops_early(tmp_path):
    path = tmp_path / "long.gif"
    frames = np.zeros((media.MAX_FRAMES + 5, 16, 16), np.uint8)
    frames[::2, 0, 0] = 255  # frames differ, so the GIF keeps them all
    iio.imwrite(path, frames, extension=".gif")
    with pytest.raises(ValueError, match="more than"):
        media.read_clip(str(path))
