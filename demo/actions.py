"""What each of the page's actions does, without Gradio: each takes the values the page (or an API client) sends and
returns what the page shows, raising ValueError with a message for people. `app.py` wires them to endpoints.

Outputs of a prediction, in the page's order (`PREDICTION_OUTPUTS`): truth GIF, prediction GIF, panel GIF, frame
strip PNG, per-frame metrics twice (the MSE and the SSIM plot read the same table), summary markdown, downloads.
"""

from __future__ import annotations

import functools
import gc
import logging

from demo import explore
from demo.best import best_possible
from demo.inputs import parse_horizon, preview_upload, select_frames
from demo.models import check_source, get_predictor
from demo.report import model_markdown
from demo.results import ResultCache, input_key
from demo.run import MODEL, run
from predictor import media

log = logging.getLogger("demo.actions")

PREDICTION_OUTPUTS = ("truth", "prediction", "panel", "strip", "mse", "ssim", "summary", "downloads")
RESULTS = ResultCache()  # finished predictions, shared by every visitor
NO_LINK = "Uploads and drawings stay in your browser, so they cannot go into a link."


def input_frames(kind, example_index, random_seed, context, horizon, clip=None, composed=None):
    """(context frames, true frames) for any input kind: the clip file `clip` is read for "upload", the frames made
    in 'Make your own' (`composed`, `explore.make_sequence`'s dict) used for "compose" (see `select_frames`)."""
    made = composed["frames"] if kind == "compose" and composed is not None else None
    frames = media.read_clip(clip) if kind == "upload" and clip else made
    return select_frames(kind, example_index, random_seed, frames, context, horizon)


def prediction_outputs(result: dict) -> tuple:
    """`run`'s result as the page's outputs (`PREDICTION_OUTPUTS`)."""
    f = result["files"]
    return (f["truth"], f["prediction"], f["panel"], f["strip"], result["table"], result["table"], result["summary"],
            [f["npy"], f["gif"], f["mp4"]])


def predict(kind, example_index, random_seed, context, horizon, mode, model, clip=None, composed=None,
            progress=None) -> tuple:
    """Predict from a bundled example (kind "example", `example_index`), a fresh random sequence made from
    `random_seed` ("random"), an uploaded clip ("upload", `clip`) or a made one ("compose", `composed`): `context`
    context frames (1-50), `horizon` predicted frames (1-60), `mode` free-running / teacher-forced / both, `model` a
    bundled name or hf:// id. Numbers may come as numbers or as strings of whole numbers (`demo.inputs.ui_int`).

    Returns truth GIF, prediction GIF, panel GIF (truth | prediction | error), frame strip PNG, per-frame metrics
    (for the MSE and SSIM plots), a markdown summary and the downloads (.npy, .gif, .mp4). Generated inputs also
    get the best possible prediction (computed beside the model) in the strip, plots and table. A result asked for
    again (same model, input frames, horizon and mode) comes from `RESULTS` (`demo.results`).
    """
    ctx, truth = input_frames(kind, example_index, random_seed, context, horizon, clip, composed)
    source = check_source(model)
    best = functools.partial(best_possible, kind, example_index, random_seed, context, horizon, composed)
    key = (source, input_key(kind, ctx, truth, composed), parse_horizon(horizon), mode)  # all an output depends on
    return RESULTS.get_or_compute(key, lambda: prediction_outputs(
        run(get_predictor(source), ctx, truth, horizon, mode, progress, best)))


def load_upload(clip) -> tuple[str, str]:
    """Check and convert an upload (GIF / MP4 / .npy): a preview GIF of its 64×64 grey frames, upscaled, and a
    markdown line describing it."""
    if not clip:
        raise ValueError("No file was uploaded.")
    frames = media.read_clip(clip)
    return (preview_upload(frames), f"**{len(frames)} frames**, shown as the model sees them: 64×64 grey. Frames "
            "after the context frames are the ground truth.")


def switch_model(choice, hub_id) -> tuple[str, str]:
    """(model in use, its card as markdown): a Hub id in `hub_id` wins over the bundled `choice`."""
    source = hub_id.strip() if hub_id and hub_id.strip() else choice
    return check_source(source), model_markdown(get_predictor(source))


def compose(digits, drawing, starts, directions, speeds, frames, context, horizon, mode, model,
            progress=None) -> tuple:
    """Make a sequence (`explore.make_sequence`) and predict it: `PREDICTION_OUTPUTS` then the made sequence."""
    made = explore.make_sequence(digits, drawing, starts, directions, speeds, frames)
    return (*predict("compose", 0, 0, context, horizon, mode, model, composed=made, progress=progress), made)


def compare(kind, example_index, random_seed, context, horizon, model_a, model_b, clip=None, composed=None) -> tuple:
    """The same input through two models (bundled names or hf:// ids), free-running: a GIF truth | A | B (| the best
    possible, for generated inputs), the per-step MSE and SSIM of both beside copy-last (for the plots) and a
    markdown summary."""
    ctx, truth = input_frames(kind, example_index, random_seed, context, horizon, clip, composed)
    a, b = check_source(model_a), check_source(model_b)
    names = {a: a, b: b} if a != b else {a: a, b + " (again)": b}
    best = best_possible(kind, example_index, random_seed, context, horizon, composed)
    out = explore.compare({name: get_predictor(src) for name, src in names.items()}, ctx, truth, horizon, best)
    return out["panel"], out["table"], out["table"], out["summary"]


def inspect(kind, example_index, random_seed, context, horizon, model, clip=None, composed=None) -> tuple:
    """Look inside the model: a GIF per predicted frame of its displacement arrows and of which pixels were moved
    copies or drawn fresh, and a legend (streaming models only)."""
    ctx, _ = input_frames(kind, example_index, random_seed, context, horizon, clip, composed)
    out = explore.inspect(get_predictor(model), ctx, horizon)
    return out["gif"], out["summary"]


def share_link(page: str, kind, example_index, random_seed, context, horizon, mode, model) -> str:
    """`page` (the address without its query) with the query that reopens it on these settings, or a line saying
    why there is none (uploads and drawings; settings the server would refuse)."""
    try:
        query = explore.share_query(kind, example_index, random_seed, context, horizon, mode, model)
    except ValueError:  # e.g. a model id that the server would refuse: nothing worth sharing
        query = ""
    return page.split("?")[0] + query if query else NO_LINK


def warm_up() -> None:
    """Load the default model, trace its graphs and compute the first screen (the default settings, which every
    visitor's page predicts on opening) into `RESULTS`, so the first visitors wait less; never raises."""
    try:
        MODEL.warm(get_predictor("default"))  # every graph a burst can reach, not only this example's
        RESULTS.forget()  # a visitor's result computed meanwhile would show the graphs' tracing as its model time
        s = explore.settings_from_query({})
        predict(s["kind"], s["example"], s["seed"], s["context"], s["horizon"], s["mode"], s["model"])
        # The models' traced graphs are ~millions of long-lived Python objects that every full garbage collection
        # would walk again, during requests: moved out of the collector's sight once, here.
        gc.collect()
        gc.freeze()
    except Exception:  # never fatal: the first request would just be slower
        log.exception("warm-up failed")
