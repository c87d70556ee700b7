"""`predictor.rigid`: a part that moves as the generator moves a digit, drawn where its possible tracks put it."""

import json
import os

import numpy as np
import pytest

from predictor import load_predictor
from predictor.moving_mnist import CANVAS, bounce, draw, draws, generate
from predictor.predictor import check_tracks
from predictor.rigid import RigidReading, read_rigid, share_rule
from train import evaluate as evaluate_cli
from train import export as export_cli


def _lone(seed, seq_len=20, pixel_rule="truncate", speed=3.6):
    """One validation digit's frames `(T, 64, 64)` in [0, 1] and its box track `(T, 2)`."""
    digits, start, vel = draws(1, 1, speed=speed, rng=seed, split="val")
    pos = bounce(start[0], vel[0], seq_len, pixel_rule)
    return draw(digits[0], pos) / 255.0, pos[0], digits[0, 0]


@pytest.mark.parametrize("pixel_rule", ["truncate", "round"])
def test_the_true_future_is_always_among_the_possible_ones(pixel_rule):
    """Whatever the track (bounces included) and rule, the reading never rules the truth out, and its mean frames
    hold the sprite's ink exactly (a weighted mean of whole sprites on the canvas)."""
    for seed in range(12):
        frames, pos, digit = _lone(seed, 30, pixel_rule)
        reading = read_rigid(frames[:10])
        assert reading is not None
        at = reading.positions(20)
        rows, cols = np.flatnonzero(digit.any(1))[0], np.flatnonzero(digit.any(0))[0]  # the ink's offset in its box
        truth = pos[10:] + [rows, cols]
        assert all(at[k, y, x] > 0 for k, (y, x) in enumerate(truth)), seed
        np.testing.assert_allclose(at.sum((1, 2)), 1.0, atol=1e-9)
        future = reading.frames(20)
        assert future.shape == (20, CANVAS, CANVAS) and future.dtype == np.float32
        np.testing.assert_allclose(future.sum((1, 2)), reading.sprite.sum(), rtol=1e-4)


def test_drawn_lone_digits_beat_the_network_on_fresh_sequences():
    """The reason it exists: on lone generator digits the drawn futures are far closer to the truth than the
    default's networks rolling the same frames out (measured: 20.7 -> 11.5 on 60 selection sequences)."""
    seqs = generate(8, 20, 1, rng=5, split="val") / 255.0
    drawn = np.stack([read_rigid(s[:10]).frames(10) for s in seqs])
    net = load_predictor("default", tracks=False).predict_batch(seqs[:, :10], 10)
    mse = lambda p: float(((p - seqs[:, 10:]) ** 2).sum((2, 3)).mean())  # noqa: E731
    assert mse(drawn) < 0.8 * mse(net)


def test_a_lone_shape_centred_otherwise_is_read_with_any_offset(monkeypatch):
    """Shapes are not centred by their mass as MNIST digits are: where no MNIST-like offset draws a lone shape's
    context, any offset may (the predictor allows it on a context's whole frames only). Their walls are then
    guesses (a future bounce may come a pixel or two early or late), yet the drawn futures beat the networks'
    (selection, 60 lone shapes: 9.6 / 18.7 against 21.3 / 23.7, before offsets near the box centre were tried)."""
    seqs = generate(24, 20, 1, rng=7, source="shapes", split="val") / 255.0
    drawn = [read_rigid(s[:10], any_offset=True) for s in seqs]
    boxed = sum(read_rigid(s[:10]) is not None for s in seqs)
    with monkeypatch.context() as m:
        m.setattr("predictor.rigid.BOX_SPREAD", 0.0)  # offsets centred by mass (MNIST's) only
        centred = sum(read_rigid(s[:10]) is not None for s in seqs)
    assert centred < boxed  # centred by their box (`BOX_SPREAD`), more of them are read without any offset
    assert all(d is not None for d in drawn) and centred < len(seqs)
    on = load_predictor("default", tracks=True).predict_batch(seqs[:, :10], 10)
    np.testing.assert_allclose(on, np.stack([d.frames(10) for d in drawn]), atol=1e-6)  # the predictor's reading
    off = load_predictor("default", tracks=False).predict_batch(seqs[:, :10], 10)
    mse = lambda p: float(((p - seqs[:, 10:]) ** 2).sum((2, 3)).mean())  # noqa: E731
    assert mse(on) < mse(off)


def test_a_still_sprite_is_held_exactly():
    frames, _, _ = _lone(3, 12, speed=0.0)
    np.testing.assert_allclose(read_rigid(frames[:10]).frames(5), np.repeat(frames[9:10], 5, 0), atol=1e-6)


def _accelerating() -> np.ndarray:
    """`(10, 64, 64)`: a square whose steps grow 1, 2, 3, ... px: no constant velocity draws it."""
    frames = np.zeros((10, CANVAS, CANVAS), np.float32)
    for t, x in enumerate([0, 1, 3, 6, 10, 15, 21, 28, 36, 36]):
        frames[t, 10:20, x : x + 8] = 1.0
    return frames


def test_what_is_not_one_rigid_sprite_on_a_generator_track_is_not_read():
    frames, _, _ = _lone(4, 12)
    rng = np.random.default_rng(0)
    noisy = np.clip(frames + rng.normal(0, 0.05, frames.shape), 0, 1)
    two = generate(1, 12, 2, rng=4, split="val")[0] / 255.0  # two digits moving apart
    grown = frames.copy()
    grown[5:] = np.maximum(grown[5:], np.roll(grown[5:], 1, axis=-1))  # the sprite changes shape
    for part in (noisy, two[:10], grown[:10], _accelerating(), frames[:2]):
        assert read_rigid(part) is None


def test_check_tracks():
    assert check_tracks(True) is True and check_tracks(0) is False
    for bad in ("yes", 2, 1.0, None):
        with pytest.raises(ValueError, match="tracks must be True or False"):
            check_tracks(bad)


def test_the_predictor_draws_the_parts_it_reads_and_rolls_out_the_rest():
    on, off = load_predictor("default", tracks=True), load_predictor("default", tracks=False)
    assert on.describe()["rollout"]["tracks"] is True and off.describe()["rollout"]["tracks"] is False
    frames, _, _ = _lone(6, 20)
    np.testing.assert_allclose(on.predict(frames[:10], 10), read_rigid(frames[:10]).frames(10), atol=1e-6)
    assert on.chosen_models(frames[:10]) == [-1]
    # a part it does not read is rolled out by the networks, as without tracks
    assert on.chosen_models(_accelerating()) == off.chosen_models(_accelerating()) != [-1]
    np.testing.assert_allclose(on.predict(_accelerating(), 5), off.predict(_accelerating(), 5), atol=1e-5)
    # two digits: each digit layer read is drawn; the batch gives the same as one by one
    seqs = generate(3, 20, 2, rng=8, split="val")
    batch = on.predict_batch(seqs[:, :10], 10)
    for s, b in zip(seqs, batch):
        np.testing.assert_allclose(on.predict(s[:10], 10), b, atol=1e-5)
    for s in generate(8, 10, 2, rng=21, split="val"):  # look inside shows what predict predicts, drawn parts too
        np.testing.assert_allclose(on.explain(s, 4)["frames"], on.predict(s, 4), atol=1e-5)
    why = on.explain(frames[:10], 6)  # look inside: the drawn part, every pixel drawn, the expected step
    np.testing.assert_allclose(why["frames"], on.predict(frames[:10], 6), atol=1e-6)
    assert (why["choice"][..., -1] == 1).all() and why["motion"].shape[0] == 6
    assert 0 < why["sureness"].min() <= why["sureness"].max() <= 1


def test_export_and_evaluate_take_tracks(tiny_model_path, tmp_path, capsys):
    out = str(tmp_path / "drawn.keras")
    export_cli.main(["--model", tiny_model_path, "--digit-layers", "2", "--tracks", "--output", out])
    assert json.load(open(os.path.splitext(out)[0] + ".json"))["rollout"]["tracks"] is True
    assert load_predictor(out).tracks is True and load_predictor(out, tracks=False).tracks is False
    result = evaluate_cli.main(["--model", out, "--tracks", "0", "--sequences", "2", "--horizon", "2",
                                "--no-teacher-forced"])
    assert np.isfinite(result["model"]["mean"]["mse"])
    with pytest.raises(SystemExit):
        evaluate_cli.main(["--model", out, "--tracks", "2"])
    with pytest.raises(SystemExit):
        export_cli.main(["--model", tiny_model_path, "--digit-layers", "0", "--tracks", "--output", out])
    assert "needs --digit-layers > 0" in capsys.readouterr().err


def test_whole_frames_are_the_networks_alone_even_with_tracks():
    frames, _, _ = _lone(6, 20)
    whole = load_predictor("default", layers=0, tracks=True)
    assert whole.chosen_models(frames[:10]) != [-1]
    np.testing.assert_allclose(whole.predict(frames[:10], 5), load_predictor("default", layers=0, tracks=False)
                               .predict(frames[:10], 5), atol=1e-6)


def test_the_app_and_hub_cards_say_the_drawing_is_hand_written():
    from demo.report import model_markdown
    from train.hub_push import build_model_card

    said = "drawn where its possible tracks put it, no network"
    assert said in model_markdown(load_predictor("default"))
    assert said not in model_markdown(load_predictor("default", tracks=False))
    card = json.load(open(os.path.join(os.path.dirname(__file__), "..", "assets", "default.json")))
    text = str(build_model_card(card, "you/convlstm"))
    assert "`rollout.tracks: true`, `predictor.rigid`" in text and "hand-written code and no network" in text


def test_look_inside_says_which_parts_were_drawn():
    from demo import explore

    frames, _, _ = _lone(6, 20)
    said = explore.inspect(load_predictor("default"), frames[:10], 3)["summary"]
    assert "1 of the 1 part rolled out was drawn where its possible tracks put it by hand-written code" in said
    two = generate(1, 10, 2, rng=8, split="val")[0]
    assert "were drawn where their possible tracks put them" in explore.inspect(load_predictor("default"), two, 3)[
        "summary"]
    assert "possible tracks" not in explore.inspect(load_predictor("default", tracks=False), two, 3)["summary"]


def test_the_parts_of_one_context_share_their_evidence_of_the_pixel_rule():
    sprite = np.ones((2, 2), np.float32)
    told = RigidReading(sprite, {"truncate": (1.0, "y1", "x1")})  # a bounce showed truncated positions
    untold = RigidReading(sprite, {"truncate": (0.5, "y2", "x2"), "round": (0.5, "y3", "x3")})
    shared = share_rule([told, None, untold])
    assert shared[1] is None and shared[0].rules == told.rules and shared[2].rules == {"truncate": (1.0, "y2", "x2")}
    both = RigidReading(sprite, {"truncate": (0.2, "y", "x"), "round": (0.8, "y", "x")})
    assert share_rule([untold, both])[0].rules["round"][0] == pytest.approx(0.8)
    rounded = RigidReading(sprite, {"round": (1.0, "y", "x")})
    assert share_rule([told, rounded]) == [told, rounded]  # no rule draws both: each keeps its own
    assert share_rule([untold]) == [untold]


def test_a_context_that_many_speeds_draw_leans_to_the_generators(monkeypatch):
    """Three frames of a digit at the generator's 3.6 px/frame leave a range of speeds per axis; coupling the axes by
    the generator's speed puts the future nearer the truth. A context that pins another speed is not pulled to it,
    and the expected steps `explain` shows follow the coupled positions."""
    import predictor.rigid as rigid

    def error(frames, pos, digit, context):
        reading = read_rigid(frames[:context])
        at = reading.positions(len(frames) - context)
        rows, cols = np.flatnonzero(digit.any(1))[0], np.flatnonzero(digit.any(0))[0]
        truth = pos[context:] + [rows, cols]
        grid = np.arange(CANVAS)
        mean = np.stack([at.sum(2) @ grid, at.sum(1) @ grid], axis=1)
        steps = reading.mean_steps(at)
        np.testing.assert_allclose(np.cumsum(steps, 0) + pos[context - 1] + [rows, cols], mean, atol=1e-9)
        return float(np.abs(mean - truth).sum(1).mean()), reading.frames(len(frames) - context)

    lones = [_lone(seed, 13) for seed in range(8)]
    coupled = np.mean([error(*lone, 3)[0] for lone in lones])
    slow = [_lone(seed, 20, speed=2.0) for seed in range(4)]
    pinned = [error(*lone, 10)[1] for lone in slow]
    monkeypatch.setattr(rigid, "SPEED_PRIOR", 0.0)
    assert coupled < 0.9 * np.mean([error(*lone, 3)[0] for lone in lones])
    for lone, frames in zip(slow, pinned):
        np.testing.assert_allclose(error(*lone, 10)[1], frames, atol=1e-3)


def test_the_parts_of_one_context_share_their_speed(monkeypatch):
    """The generator moves every digit of a clip at one speed: each drawn part is told the others' speeds, and two
    digits at 2 px/frame (whose own contexts leave each speed a little open) are drawn nearer the truth."""
    import predictor.rigid as rigid

    readings = [read_rigid(_lone(seed, 20, speed=1.0)[0][:10]) for seed in range(40, 43)]
    shared = rigid.share_speed([readings[0], None, readings[1]], weight=10.0)
    assert shared[1] is None and all(r.speed_hint is not None for r in (shared[0], shared[2]))
    hint = shared[0].speed_hint
    assert hint.max() == pytest.approx(10.0, rel=0.05) and abs(np.argmax(hint) * rigid.SPEED_STEP - 1.0) < 0.15
    three = rigid.share_speed(readings, weight=10.0)  # with two others: the product of theirs
    assert three[0].speed_hint.max() <= 10.0 + 1e-9 and np.argmax(three[0].speed_hint) > 0
    assert rigid.share_speed(readings[:2], weight=0.0) == readings[:2]
    assert rigid.share_speed([readings[0], None])[0] is readings[0]  # alone: nothing to share

    seqs = generate(16, 20, 2, 2.0, rng=17, split="val") / 255.0
    mse = lambda p: float(((p - seqs[:, 10:]) ** 2).sum((2, 3)).mean())  # noqa: E731
    told = mse(load_predictor("default").predict_batch(seqs[:, :10], 10))
    monkeypatch.setattr(rigid, "SHARE_SPEED", 0.0)
    assert told < mse(load_predictor("default").predict_batch(seqs[:, :10], 10))


def test_shapes_centred_by_their_box_are_drawn_in_layers(monkeypatch):
    """A shape is centred by its box, not its mass as MNIST centres a digit: where no mass-centred offset draws a
    layer, offsets near the box's centre may, so two shapes' layers are drawn (not left to the networks) and predicted
    nearer the truth."""
    import predictor.rigid as rigid

    seqs = generate(12, 20, 2, rng=19, source="shapes", split="val") / 255.0
    p = load_predictor("default")
    share = lambda: np.mean([x is not None for s in seqs for x in p.prepare(s[:10]).drawn])  # noqa: E731
    mse = lambda: float(((p.predict_batch(seqs[:, :10], 10) - seqs[:, 10:]) ** 2).sum((2, 3)).mean())  # noqa: E731
    boxed, boxed_mse = share(), mse()
    monkeypatch.setattr(rigid, "BOX_SPREAD", 0.0)
    assert boxed > share() and boxed_mse < mse()
