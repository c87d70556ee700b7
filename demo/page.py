"""The page's words and Gradio glue that is not layout: the header, choices, plot colours, CSS, and how a failure
reaches a visitor (`human_errors`). `app.py` lays the page out with these."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import uuid

import gradio as gr
from gradio import processing_utils, utils as gradio_utils

from demo.best import BEST

log = logging.getLogger("app")

# Every event that predicts shares one Gradio queue admitting up to 32 at a time (CONVLSTM_APP_PREDICT_CONCURRENCY),
# not the two of the other endpoints: a cached result is answered at once instead of waiting behind computations,
# and the model's own work is bounded inside (`demo.batcher`: one model call at a time, concurrent rollouts batched).
# 32 leaves 8 of Gradio's 40 worker threads to the other endpoints.
PREDICTS = dict(concurrency_limit=int(os.environ.get("CONVLSTM_APP_PREDICT_CONCURRENCY", "32")),
                concurrency_id="predict")

CONTEXT_SWATCH = '<span class="swatch" style="background:#4285f4"></span>'
PRED_SWATCH = '<span class="swatch" style="background:#ff911e"></span>'
HEADER = f"""
# What happens next? A ConvLSTM imagines the rest of a video

Each video shows two handwritten digits bouncing around a 64×64 box (**Moving MNIST**). The model watches the
first few frames, the {CONTEXT_SWATCH}**context frames** (the "seed" it starts from), and then has to *imagine* what
comes next, one frame at a time, feeding each guess back in as if it had seen it: the {PRED_SWATCH}**predicted
frames**. Its memory is a **convolutional LSTM** (ConvLSTM): an LSTM whose memory is itself a small image, so it can
remember *where* each digit is and *how* it moves. Below, left: what really happened; middle: what the model
imagined; right: where the two differ (bright = wrong).

**What is learned and what is not.** The ConvLSTM networks learned motion and bouncing from examples: nobody wrote
those rules. The default model adds hand-written steps around them: a tracker splits the context into one layer
per digit (plus whatever ink the digits do not explain), each layer is predicted alone and the layers are combined;
a layer that is one rigid sprite moving exactly as the Moving MNIST generator moves digits (constant velocity,
bounces, whole pixels) is **drawn by hand-written code** where its possible tracks put it (leaning to the
generator's 3.6 px/frame, and to the other digits' speed, where several speeds fit the context), no network
involved; every other layer goes to whichever of six networks predicts its last context frames best (one trained on
the usual 3.6 px/frame, one on 0–4 px/frame, and four that only take layers at their own speeds: 3.6–4, 2.6–4,
1.2–2.8 and 0–1.25 px/frame), or copy-last where it stood still; a layer the tracker measures at the first
network's own speed stays with it, or, where the digits' bounces show positions rounded to pixels rather than
truncated, goes to a seventh network trained on rounded ones (where no bounce shows either rule, the two are
averaged).
Choose `whole-frames` to see the first network alone: what a ConvLSTM predicts by itself.
"""

KIND_CHOICES = [("bundled example", "example"), ("random sequence", "random"), ("your clip", "upload"),
                ("made by you", "compose")]
MODE_CHOICES = [("free-running (feeds back its own guesses)", "free-running"),
                ("teacher-forced (sees the true frame before each guess)", "teacher-forced"),
                ("both", "both")]
PLOT_COLOURS = {"free-running": "#ff911e", "teacher-forced": "#8e44ad", "copy last frame": "#7f7f7f",
                "empty frames": "#c7c7c7",
                BEST: "#2ca02c"}
PATHS = ((4, 30, 60, 3.6), (30, 4, 200, 3.6))  # 'Make your own' defaults per digit: x, y px, direction °, speed px

CSS = """
.gradio-container { max-width: 1500px !important; }
#panel img { object-fit: contain; }
#header p { font-size: 0.97rem; line-height: 1.45; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin: 0 0.3em -0.05em 0.1em; }
"""


@contextlib.contextmanager
def human_errors(action: str, after: str = ""):
    """Turn any failure into a `gr.Error`: ValueErrors carry their own message; anything else is logged.

    `after` is appended to the message (e.g. which model stays in use).
    """
    try:
        yield
    except gr.Error:
        raise
    except ValueError as e:
        msg = str(e).strip()
        msg += "" if not after or msg.endswith((".", "!", "?")) else "."
        raise gr.Error(f"{msg} {after}".strip(), title=f"Could not {action}") from e
    except Exception as e:  # a bug or resource problem: the user still gets a message, the server keeps serving
        log.exception("unexpected failure while trying to %s", action)
        raise gr.Error(f"Something went wrong on the server ({type(e).__name__}). The server is still running: "
                       f"please try again. {after}".strip(), title=f"Could not {action}") from e


def endpoint(action, what: str):
    """`action` (a `demo.actions` function) as a Gradio handler: the same parameters and docstring (Gradio reads
    both for the API page), every failure a `gr.Error` (`human_errors(what)`), and a `progress` parameter given
    Gradio's progress tracker as its default so Gradio passes one in."""
    @functools.wraps(action)
    def handler(*args, **kwargs):
        with human_errors(what):
            return action(*args, **kwargs)

    sig = inspect.signature(action)
    handler.__signature__ = sig.replace(parameters=[p.replace(default=gr.Progress()) if p.name == "progress" else p
                                                    for p in sig.parameters.values()])
    return handler


def in_gradio_cache(outputs: tuple) -> tuple:
    """`outputs` (a prediction's, `demo.actions.PREDICTION_OUTPUTS`) with every file replaced by a hard link to it
    in a fresh folder of Gradio's cache folder (same file name): Gradio serves a file inside its cache as it is,
    while one outside is hashed (and the first time copied) on every answer that returns it, a cached result's
    included (~1 ms of the server's CPU per answer). A link costs neither the hashing nor the copy that Gradio's own
    `save_file_to_cache` would make once per fresh result (~2 ms of CPU for a prediction's ~0.5 MB); where no link
    can be made (another file system), that copy is made instead. Gradio's `delete_cache` removes the link, and
    `demo.files.prune` the original, each on its own schedule. For `ResultCache.publish`."""
    cache = gradio_utils.get_upload_folder()  # what every Blocks' GRADIO_CACHE is
    folder = None

    def served(value):
        nonlocal folder
        if isinstance(value, str) and os.path.isabs(value) and os.path.isfile(value):
            if folder is None:  # one per result; the name cannot be one of Gradio's 64-hex content hashes
                folder = os.path.join(cache, f"convlstm-{uuid.uuid4().hex}")
                os.makedirs(folder)
            link = os.path.join(folder, os.path.basename(value))
            try:
                os.link(value, link)
            except OSError:  # no hard links here: Gradio's own hashed copy
                return processing_utils.save_file_to_cache(value, cache)
            return link
        return [served(v) for v in value] if isinstance(value, list) else value

    return tuple(served(v) for v in outputs)
