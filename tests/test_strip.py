"""The frame strip as a palette PNG (`predictor.render.save_strip`): what a visitor sees of the RGB drawing it
replaced, within 1 grey level in the frames and ~2 levels on the labels' antialiased edges."""

import numpy as np
from PIL import Image, ImageDraw

from predictor import render


def _rgb(path):
    im = Image.open(path)
    assert im.mode == "P"  # one byte a pixel, no PNG row filters: the cheap encoding
    return np.asarray(im.convert("RGB")).astype(int)


def test_strip_cells_borders_and_labels_are_what_an_rgb_drawing_shows(tmp_path):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 256, (4, 64, 64), dtype=np.uint8)  # every grey level, short: 6 steps have no truth
    pred = rng.random((10, 64, 64), dtype=np.float32)
    last = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    out = _rgb(render.save_strip({"truth": truth, "free-running": pred}, last, str(tmp_path / "s.png")))
    label_w, top, cell, b = 124, 22, 72, 2
    assert out.shape == (top + 2 * cell, label_w + 11 * cell, 3)
    steps = range(1, 11)  # a horizon of 10 shows every step
    for r, frames in enumerate((truth, render.as_uint8(pred))):
        y = top + r * cell
        for j, s in enumerate([0, *steps]):
            x = label_w + j * cell
            box = out[y : y + 64 + 2 * b, x : x + 64 + 2 * b]
            if j and s > len(frames):  # no frame at this step: a grey box
                assert (box == render.MISSING_RGB).all()
                continue
            frame = last if j == 0 else frames[s - 1]
            assert (box[0] == (render.CONTEXT_RGB if j == 0 else render.PREDICTED_RGB)).all()  # the border
            shown = box[b:-b, b:-b]
            assert (shown == shown[..., :1]).all() and np.abs(shown[..., 0] - frame).max() <= 1
    # A label as Pillow draws it on an RGB image, within 2 levels on its antialiased edges.
    ref = Image.new("RGB", (cell, top), (render.BG,) * 3)
    ImageDraw.Draw(ref).text((cell // 2, top // 2), "+3", fill=render.PREDICTED_RGB, font=render._font(13), anchor="mm")
    drawn = out[:top, label_w + 3 * cell : label_w + 4 * cell]
    assert np.abs(drawn - np.asarray(ref).astype(int)).max() <= 2 and (drawn != render.BG).any()
    ref = Image.new("RGB", (label_w, cell), (render.BG,) * 3)
    ImageDraw.Draw(ref).text((8, cell // 2), "free-running", fill=(235,) * 3, font=render._font(13), anchor="lm")
    assert np.abs(out[top + cell : top + 2 * cell, :label_w] - np.asarray(ref).astype(int)).max() <= 2
