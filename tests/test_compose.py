"""Make your own sequence, look inside, share: the pieces under the app's new tabs (no server)."""

import numpy as np
import pytest

from demo import explore
from predictor.digits import mnist_like, validation_digit
from predictor.moving_mnist import bounce, compose, generate, trajectories


def _nine(size=280, dark_on_light=True):
    from PIL import Image, ImageDraw

    im = Image.new("L", (size, size), 255 if dark_on_light else 0)
    d, ink = ImageDraw.Draw(im), 0 if dark_on_light else 255
    d.ellipse((90, 40, 190, 140), outline=ink, width=18)
    d.line((185, 90, 150, 250), fill=ink, width=18)
    return np.asarray(im)


def test_a_drawing_is_scaled_and_centred_as_mnist_digits_are():
    a, b = mnist_like(_nine()), mnist_like(_nine(dark_on_light=False))
    assert a.shape == (28, 28) and a.dtype == np.uint8 and a.max() == 255
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # polarity does not matter
    ys, xs = np.nonzero(a > 30)
    assert ys.max() - ys.min() + 1 == 20  # the taller side fills MNIST's 20-pixel box
    yy, xx = np.indices(a.shape)
    com = np.array([(yy * a).sum(), (xx * a).sum()]) / a.sum()
    assert np.all(np.abs(com - 13.5) <= 1.0)  # centre of mass in the middle of the 28x28 frame
    with pytest.raises(ValueError, match="The drawing is blank"):
        mnist_like(np.full((100, 100), 255, np.uint8))
    with pytest.raises(ValueError, match="from 8x8 to 2048x2048 pixels. Received shape \\(4096, 4096, 4\\)"):
        mnist_like(np.zeros((4096, 4096, 4), np.uint8))
    faint = np.full((200, 200), 255, np.uint8)
    faint[50:150, 95:105] = 230  # a stroke too faint to tell from paper
    with pytest.raises(ValueError, match="The drawing is blank"):
        mnist_like(faint)


def test_composed_paths_follow_the_generator_rules():
    rng = np.random.default_rng(3)
    pos = trajectories(2, 30, 2, 3.6, rng)
    assert pos.min() >= 0 and pos.max() <= 36
    again = bounce(np.array([[0.0, 0.0]]), np.array([[-3.0, 4.0]]), 20)[0]  # into the top edge: it bounces
    assert again[1, 0] == 0 and again[2, 0] == 3 and again[2, 1] == 8
    seq = compose(np.stack([validation_digit(3)]), [(0, 0)], [0.0], [4.0], 12)  # straight right at 4 px/frame
    cols = [np.nonzero(f.max(axis=0))[0].min() for f in seq]
    assert np.diff(cols[:9]).tolist() == [4] * 8 and seq.shape == (12, 64, 64)
    with pytest.raises(ValueError, match="speeds in \\[0, 4.0\\]"):
        compose(np.stack([validation_digit(3)]), [(0, 0)], [0.0], [9.0], 12)
    with pytest.raises(ValueError, match="8 and 9 are held out: draw them"):
        validation_digit(9)


def test_compose_sequence_from_the_app_controls():
    seq = explore.compose_sequence(["drawn", "5"], {"composite": _nine()}, [(4, 30), (30, 4)], [60, 200],
                                   [3.6, 2.5], 25)
    assert seq.shape == (25, 64, 64) and seq.max() == 255
    with pytest.raises(ValueError, match="Draw a digit on the sketchpad first"):
        explore.compose_sequence(["drawn"], {"composite": None}, [(0, 0)], [0], [1], 10)
    with pytest.raises(ValueError, match="Choose at least one digit"):
        explore.compose_sequence(["none", "none"], None, [(0, 0)] * 2, [0, 0], [1, 1], 10)



def test_make_your_own_offers_shapes_and_the_default_follows_them():
    """Objects no network trained on: a square and a ring at 2 px/frame are drawn as the generator draws digits, and
    the bundled default predicts them better than holding the last frame or blanking it (the suite's "objects"
    cell measures many: docs/eval-suite.json)."""
    from predictor import load_predictor
    from predictor.digits import SHAPES, draw_shape

    assert set(SHAPES) <= set(explore.DIGIT_CHOICES)
    made = explore.make_sequence(["square", "ring"], None, [(4, 30), (30, 4)], [20, 200], [2.0, 2.0], 20)
    np.testing.assert_array_equal(made["digits"], [draw_shape("square"), draw_shape("ring")])
    seq = made["frames"] / 255.0
    assert seq.max() == 1.0 and (seq[0] > 0).sum() > 300  # a filled 18-px square and a ring
    pred = load_predictor("default").predict(seq[:10], 10)
    err = lambda p: float(((p - seq[10:]) ** 2).sum(axis=(1, 2)).mean())  # noqa: E731
    assert err(pred) < 0.5 * min(err(np.repeat(seq[9:10], 10, axis=0)), err(np.zeros_like(pred)))
    with pytest.raises(ValueError, match="a shape"):
        explore.make_sequence(["hexagon"], None, [(0, 0)], [0], [1], 10)

def test_a_made_sequence_keeps_what_drew_it_for_the_best_possible_line():
    from demo import session

    args = (["drawn", "5"], {"composite": _nine()}, [(4, 30), (30, 4)], [60, 200], [3.6, 2.5], 30)
    made = explore.make_sequence(*args)
    np.testing.assert_array_equal(made["frames"], explore.compose_sequence(*args))
    np.testing.assert_array_equal(made["frames"], compose(made["digits"], made["start"], [60, 200], [3.6, 2.5], 30))
    best = session.best_possible("compose", context=10, horizon=12, made=made)
    truth = made["frames"][10:22] / 255.0
    assert ((best - truth) ** 2).sum(axis=(1, 2)).mean() < 0.3 * (truth ** 2).sum(axis=(1, 2)).mean()
    # Straight up from a whole pixel: thirty seed frames pin the path to a sliver no sampler hits; it is the truth.
    up = explore.make_sequence(["3", "none"], None, [(18, 30), (0, 0)], [90, 0], [3.6, 0], 40)
    np.testing.assert_allclose(session.best_possible("compose", context=30, horizon=10, made=up),
                               up["frames"][30:] / 255.0, atol=1e-6)
    assert session.best_possible("compose", context=10, horizon=5) is None  # nothing made yet


def test_look_inside_is_for_streaming_models_only(tiny_model_path):
    from predictor import load_predictor
    from predictor.models import build_seed_model
    from predictor.predictor import SeedPredictor

    context = generate(1, 10, rng=0, split="val")[0]
    out = explore.inspect(load_predictor(tiny_model_path), context, 3)
    assert out["gif"].endswith("-inspect.gif") and "moved copies" in out["summary"]
    with pytest.raises(ValueError, match="Look inside is available for the streaming models"):
        explore.inspect(SeedPredictor(build_seed_model(), {}, "seed"), context, 3)


def test_explanation_matches_the_rollout(tiny_model_path):
    from predictor import load_predictor

    p = load_predictor(tiny_model_path)
    context = generate(1, 10, rng=1, split="val")[0]
    e = p.explain(context, 4)
    np.testing.assert_allclose(e["frames"], p.predict(context, 4), atol=1e-5)
    assert e["motion"].shape == (4, 16, 16, 2, 2) and np.abs(e["motion"]).max() <= 4
    assert np.allclose(e["choice"].sum(-1), 1, atol=1e-5) and (e["sureness"] >= 1 / 81 - 1e-6).all()


def test_a_shared_link_round_trips_and_bad_links_fall_back():
    query = explore.share_query("random", 0, 77, 8, 14, "both", "default")
    assert query == "?kind=random&example=0&seed=77&context=8&horizon=14&mode=both&model=default"
    import urllib.parse

    params = dict(urllib.parse.parse_qsl(query[1:]))
    assert explore.settings_from_query(params) == {"kind": "random", "example": 0, "seed": 77, "context": 8,
                                                   "horizon": 14, "mode": "both", "model": "default"}
    assert explore.settings_from_query({**params, "model": "/etc/passwd"})["seed"] == 0  # refused: defaults
    assert explore.settings_from_query({**params, "horizon": "9999"})["kind"] == "example"
    assert explore.share_query("upload", 0, 0, 10, 10, "both", "default") == ""
