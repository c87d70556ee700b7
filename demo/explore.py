"""The app's exploration features, without the UI: make your own sequence, compare models, look inside the
model, share a result as a link. Built on the other `demo` modules (inputs, outputs, the model cache) and the core.

    seq = explore.compose_sequence(["drawn", "3"], drawing, [(4, 30), (30, 4)], [60, 200], [3.6, 3.6], 30)
    out = explore.compare({"A": predictor_a, "B": predictor_b}, seq[:10], seq[10:20], horizon=10)
    out = explore.inspect(predictor, seq[:10], horizon=10)      # {"gif": path, "summary": markdown}
"""

from __future__ import annotations

import time

import numpy as np

from demo.best import BEST
from demo.files import FPS, new_stem
from demo.inputs import (MAX_CONTEXT, MAX_HORIZON, MODES, parse_context, parse_example_index, parse_horizon,
                         parse_random_seed, ui_int)
from demo.models import check_source
from demo.report import error_curves, metric_table, summarize
from predictor import media, render
from predictor.digits import SHAPES, draw_shape, mnist_like, validation_digit
from predictor.moving_mnist import compose, velocities

# Validation digits exist for classes 0-7; shapes are objects no network trained on (`predictor.digits.shapes`).
DIGIT_CHOICES = ("drawn", "none", *(str(c) for c in range(8)), *SHAPES)


def compose_sequence(digits, drawing, starts, directions, speeds, frames) -> np.ndarray:
    """A Moving MNIST sequence `(frames, 64, 64) uint8` from chosen digits on chosen paths (`make_sequence`'s)."""
    return make_sequence(digits, drawing, starts, directions, speeds, frames)["frames"]


def make_sequence(digits, drawing, starts, directions, speeds, frames) -> dict:
    """A Moving MNIST sequence from chosen digits on chosen paths, with what drew it: {"frames": `(frames, 64, 64)
    uint8`, "digits": `(D, 28, 28) uint8`, "start": `(D, 2)` (y, x) px, "vel": `(D, 2)` px/frame} (the hidden state
    `demo.best.best_possible` reads).

    digits: one entry per digit, "drawn" (the `drawing`, made MNIST-like), "none" (left out), a class "0"-"7"
    (its first validation digit) or a shape of `SHAPES` (`draw_shape`'s, 18 px across); starts `(x, y)` top-left px
    in [0, 36]; directions in degrees (0 = right, 90 = up); speeds px/frame in [0, 4]. Raises ValueError for a blank
    drawing, no digit at all, bad values.
    """
    frames = ui_int(frames, "Frames", 2, MAX_CONTEXT + MAX_HORIZON)
    chosen, paths = [], []
    for spec, start, direction, speed in zip(digits, starts, directions, speeds):
        spec = str(spec)
        if spec == "none":
            continue
        if spec == "drawn":
            image = drawing.get("composite") if isinstance(drawing, dict) else drawing
            if image is None:
                raise ValueError("Draw a digit on the sketchpad first (or pick a digit class instead of 'drawn').")
            chosen.append(mnist_like(image))
        elif spec in SHAPES:
            chosen.append(draw_shape(spec))
        elif spec in DIGIT_CHOICES:
            chosen.append(validation_digit(int(spec)))
        else:
            raise ValueError(f"A digit is 'drawn', 'none', a class 0-7 or a shape ({', '.join(SHAPES)}). "
                             f"Received: {spec!r}")
        paths.append((float(start[1]), float(start[0]), float(direction), float(speed)))  # (y, x, deg, px)
    if not chosen:
        raise ValueError("Choose at least one digit (draw one, or pick a class or a shape).")
    p, chosen = np.array(paths), np.stack(chosen)
    seq = compose(chosen, p[:, :2], p[:, 2], p[:, 3], frames)
    return {"frames": seq, "digits": chosen, "start": p[:, :2], "vel": velocities(p[:, 2], p[:, 3])}


def compare(predictors: dict, context: np.ndarray, truth: np.ndarray, horizon: int, best=None) -> dict:
    """The same input through several models: {"panel": GIF path (truth | each model), "table": per-step
    metrics of each model and copy-last (see `metric_table`), "summary": markdown, "timings"}.

    `predictors` maps a display name to a `Predictor`; each predicts `horizon` frames free-running. `best`, the
    best possible frames (`demo.best.best_possible`; None: none), joins them as one more column and line.
    """
    horizon = parse_horizon(horizon)
    t0 = time.perf_counter()
    preds = {name: p.predict(context, horizon) for name, p in predictors.items()}
    preds.update({BEST: best} if best is not None else {})
    t1 = time.perf_counter()
    panel = media.write_gif(render.compare_frames(context, truth, preds, horizon), new_stem() + "-compare.gif",
                            FPS, render.PALETTE)
    curves = error_curves(context, truth, preds)
    timings = {"model": t1 - t0, "files": time.perf_counter() - t1, "metrics": 0.0}
    return {"panel": panel, "table": metric_table(curves), "summary": summarize(curves, len(truth), horizon, timings),
            "timings": timings}


LOOK_INSIDE_LEGEND = (
    "**Left:** the frame the model moved pixels of, with one arrow per 4×4 patch: where it expects that patch's "
    "ink to go next (drawn twice as long as the move), green when one displacement clearly wins, red when it is "
    "unsure. **Right:** the prediction, each pixel tinted by what made it: orange and blue are the two moved "
    "copies of the previous frame, magenta pixels were drawn fresh.")


def inspect(predictor, context: np.ndarray, horizon: int) -> dict:
    """What the model did at each predicted frame: {"gif": path, "summary": markdown} (streaming models only)."""
    horizon = parse_horizon(horizon)
    if not hasattr(predictor, "explain"):
        raise ValueError(f"Look inside is available for the streaming models (StreamingConvLSTM), whose head moves "
                         f"pixels; this model is of kind {predictor.kind!r}, which has no displacements to draw.")
    t0 = time.perf_counter()
    explanation = predictor.explain(context, horizon)
    gif = media.write_gif(render.inspect_frames(explanation), new_stem() + "-inspect.gif", FPS)
    sure = float(explanation["sureness"].max(axis=-1).mean())
    moved = float(explanation["choice"][..., :-1].sum(-1)[explanation["frames"] > 0.3].mean()) if (
        explanation["frames"] > 0.3).any() else float("nan")
    layers = explanation.get("layers", 1)
    split = (f" The context frames were split into {layers} digit layers, each rolled out alone: every pixel shows "
             f"the layer it came from, every patch the layer with the most ink there." if layers > 1 else "")
    drawn = explanation.get("drawn", 0)
    one = drawn == 1
    split += (f" {drawn} of the {layers} part{'s' if layers > 1 else ''} rolled out {'was' if one else 'were'} drawn "
              f"where {'its' if one else 'their'} possible tracks put {'it' if one else 'them'} by hand-written code, "
              "not moved by a network: there every pixel is drawn and every patch shows the expected step."
              if drawn else "")
    summary = (f"{LOOK_INSIDE_LEGEND}{split}\n\nOver the {horizon} predicted frames: the strongest displacement holds "
               f"{sure:.0%} of a patch's probability on average; {moved:.0%} of the ink is moved copies, the rest "
               f"drawn fresh. <small>Server time: {1000 * (time.perf_counter() - t0):.0f} ms</small>")
    return {"gif": gif, "summary": summary}


SHARE_KEYS = ("kind", "example", "seed", "context", "horizon", "mode", "model")


def share_query(kind, example_index, random_seed, context, horizon, mode, model) -> str:
    """The query string that reopens the page on this input and these settings (examples and random sequences;
    uploads and drawings live only in the visitor's browser, so they cannot go into a link). ValueError for bad
    values."""
    import urllib.parse

    if kind not in ("example", "random"):
        return ""
    values = (kind, parse_example_index(example_index), parse_random_seed(random_seed), parse_context(context),
              parse_horizon(horizon), _one_of(MODES)(mode), check_source(model))
    return "?" + urllib.parse.urlencode(dict(zip(SHARE_KEYS, values)))


def settings_from_query(params) -> dict:
    """Checked settings from a shared link's query parameters (strings): missing ones keep their defaults; if any
    is bad (not a whole number, out of range, an unknown mode or kind, a model this server refuses), the link is
    ignored and all defaults are returned. Numbers go through the app's one parser (`demo.inputs.ui_int`)."""
    defaults = {"kind": "example", "example": 0, "seed": 0, "context": 10, "horizon": 10, "mode": "free-running",
                "model": "default"}
    parsers = {"kind": _one_of(("example", "random")), "example": parse_example_index, "seed": parse_random_seed,
               "context": parse_context, "horizon": parse_horizon, "mode": _one_of(MODES), "model": check_source}
    try:
        return {key: parsers[key](params[key]) if key in params else default for key, default in defaults.items()}
    except ValueError:
        return defaults


def _one_of(choices):
    def parse(value):
        if value not in choices:
            raise ValueError(f"one of {choices}. Received: {value!r}")
        return value
    return parse
