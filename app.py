"""Gradio app: watch a ConvLSTM imagine the next frames of Moving MNIST.

    python app.py            # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured)

A thin Gradio Blocks layer: choosing frames, predicting, rendering and every check live in
`demo.session` (app policy) and `predictor` (the core). Every UI action is a named API endpoint (`/predict`,
`/predict_upload`, `/load_upload`, `/load_model`); every failure reaches the user as a `gr.Error`.
"""

import contextlib
import functools
import logging
import os
import random
import threading

import gradio as gr

from demo import explore, session
from predictor import bundled_models, media, runtime

log = logging.getLogger("app")
runtime.use_rollout_threads()  # before TensorFlow starts: one thread per op, two ops at a time (predictor.runtime)

SEED_SWATCH = '<span class="swatch" style="background:#4285f4"></span>'
PRED_SWATCH = '<span class="swatch" style="background:#ff911e"></span>'
HEADER = f"""
# What happens next? A ConvLSTM imagines the rest of a video

Each video shows two handwritten digits bouncing around a 64×64 box (**Moving MNIST**). The model watches the
first few frames, the {SEED_SWATCH}**seed frames**, and then has to *imagine* what comes next, one frame at a time,
feeding each guess back in as if it had seen it: the {PRED_SWATCH}**predicted frames**. Its memory is a
**convolutional LSTM** (ConvLSTM): an LSTM whose memory is itself a small image, so it can remember *where* each
digit is and *how* it moves. Below, left: what really happened; middle: what the model imagined; right: where the
two differ (bright = wrong). Nobody told it about digits or bouncing: it learned both from examples.
"""

KIND_CHOICES = [("bundled example", "example"), ("random sequence", "random"), ("your clip", "upload"),
                ("made by you", "compose")]
MODE_CHOICES = [("free-running (feeds back its own guesses)", "free-running"),
                ("teacher-forced (sees the true frame before each guess)", "teacher-forced"),
                ("both", "both")]
PLOT_COLOURS = {"free-running": "#ff911e", "teacher-forced": "#8e44ad", "copy last frame": "#7f7f7f",
                session.BEST: "#2ca02c"}

CSS = """
.gradio-container { max-width: 1500px !important; }
#panel img { object-fit: contain; }
#header p { font-size: 0.97rem; line-height: 1.45; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin: 0 0.3em -0.05em 0.1em; }
"""


@contextlib.contextmanager
def _human_errors(action: str, after: str = ""):
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


def _outputs(out: dict) -> tuple:
    f = out["files"]
    return (f["truth"], f["prediction"], f["panel"], f["strip"], out["table"], out["table"], out["summary"],
            [f["npy"], f["gif"], f["mp4"]])


def _input_frames(kind, example_index, random_seed, context, horizon, clip=None, composed=None):
    """(context, truth) for any input kind: the clip is read for "upload", the made frames used for "compose"."""
    made = composed["frames"] if kind == "compose" and composed is not None else None  # explore.make_sequence's
    frames = media.read_clip(clip) if kind == "upload" and clip else made
    return session.select_frames(kind, example_index, random_seed, frames, context, horizon)


def predict(kind, example_index, random_seed, context, horizon, mode, model, clip=None, composed=None,
            progress=gr.Progress()):
    """Predict from a bundled example (kind "example", `example_index`), a fresh random sequence made from
    `random_seed` ("random") or an uploaded clip ("upload", `clip`): `context` seed frames, `horizon`
    predicted frames (1-60), `mode` free-running / teacher-forced / both, `model` a bundled name or hf:// id.

    Returns truth GIF, prediction GIF, panel GIF (truth | prediction | error), frame strip PNG, per-frame
    metrics (for the MSE and SSIM plots), a markdown summary and the downloads (.npy, .gif, .mp4). Examples and
    random sequences (and made ones) also get the best possible prediction (`session.best_possible`) in the strip,
    plots and table.
    """
    with _human_errors("predict"):
        ctx, truth = _input_frames(kind, example_index, random_seed, context, horizon, clip, composed)
        predictor = session.get_predictor(model)
        best = functools.partial(session.best_possible, kind, example_index, random_seed, context, horizon, composed)
        return _outputs(session.run(predictor, ctx, truth, int(horizon), mode, progress, best))


def predict_upload(clip, context, horizon, mode, model, progress=gr.Progress()):
    """Predict from an uploaded GIF / MP4 / .npy clip; the frames after the seed frames are the ground truth."""
    if not clip:
        raise gr.Error("Upload a GIF, MP4 or .npy clip first.", title="Could not predict")
    return predict("upload", 0, 0, context, horizon, mode, model, clip, progress=progress)


def load_upload(clip):
    """Check and convert an upload: a preview GIF of its 64×64 grey frames and a line describing it."""
    with _human_errors("read the clip"):
        if not clip:
            raise ValueError("No file was uploaded.")
        frames = media.read_clip(clip)
        return (session.preview_upload(frames),
                f"**{len(frames)} frames**, shown as the model sees them: 64×64 grey. Frames after the seed frames "
                "are the ground truth.")


def load_model(choice, hub_id, current):
    """Switch model: a Hub id (hf://owner/repo) in `hub_id` wins over the bundled `choice`.

    Returns (model in use, its card as markdown). On failure a `gr.Error` says why and `current` stays in use.
    """
    source = hub_id.strip() if hub_id and hub_id.strip() else choice
    with _human_errors("load the model", f"The current model, {current!r}, stays in use."):
        return session.check_source(source), session.model_markdown(session.get_predictor(source))


def compose(digit_a, digit_b, drawing, x_a, y_a, direction_a, speed_a, x_b, y_b, direction_b, speed_b, frames,
            context, horizon, mode, model, progress=gr.Progress()):
    """Make your own Moving MNIST sequence and predict it: two digits, each "drawn" (the sketchpad `drawing`,
    scaled and centred as MNIST digits are), "none" or a class "0"-"7" (a validation digit), each with a start
    (x, y px, 0-36), a direction (degrees, 0 = right, 90 = up) and a speed (px/frame, 0-4); `frames` in all.

    Returns the usual outputs of `/predict`, then the made sequence (`explore.make_sequence`: frames, digits and
    paths, kept by the page for Predict, Compare and Look inside).
    """
    with _human_errors("make the sequence"):
        made = explore.make_sequence([digit_a, digit_b], drawing, [(x_a, y_a), (x_b, y_b)],
                                     [direction_a, direction_b], [speed_a, speed_b], frames)
    return (*predict("compose", 0, 0, context, horizon, mode, model, composed=made, progress=progress), made)


def compare(kind, example_index, random_seed, context, horizon, model_a, model_b, clip=None, composed=None):
    """The same input through two models (bundled names or hf:// ids), free-running: a GIF truth | A | B (| the best
    possible, for generated inputs), the per-step MSE and SSIM of both beside copy-last (for the plots) and a
    markdown summary."""
    with _human_errors("compare the models"):
        ctx, truth = _input_frames(kind, example_index, random_seed, context, horizon, clip, composed)
        a, b = session.check_source(model_a), session.check_source(model_b)
        names = {a: a, b: b} if a != b else {a: a, b + " (again)": b}
        best = session.best_possible(kind, example_index, random_seed, context, horizon, composed)
        out = explore.compare({name: session.get_predictor(src) for name, src in names.items()}, ctx, truth, horizon,
                              best)
        return out["panel"], out["table"], out["table"], out["summary"]


def inspect(kind, example_index, random_seed, context, horizon, model, clip=None, composed=None):
    """Look inside the model: a GIF per predicted frame of its displacement arrows and of which pixels were
    moved copies or drawn fresh, and a legend (streaming models only)."""
    with _human_errors("look inside the model"):
        ctx, _ = _input_frames(kind, example_index, random_seed, context, horizon, clip, composed)
        out = explore.inspect(session.get_predictor(model), ctx, horizon)
        return out["gif"], out["summary"]


def share_link(kind, example_index, random_seed, context, horizon, mode, model, request: gr.Request):
    """A link that reopens the page on this input and these settings."""
    try:
        query = explore.share_query(kind, example_index, random_seed, context, horizon, mode, model)
    except ValueError:  # e.g. a model id that the server would refuse: nothing worth sharing
        query = ""
    if not query:
        return "Uploads and drawings stay in your browser, so they cannot go into a link."
    page = (request.headers.get("referer") or "").split("?")[0] if request else ""
    return page + query


def apply_link(request: gr.Request):
    """Settings from the page's query string (a shared link), checked; defaults otherwise. The input tab that
    matches the link's kind is shown, so the page and the settings agree."""
    s = explore.settings_from_query(dict(request.query_params) if request else {})
    return (s["kind"], s["example"], s["seed"], s["context"], s["horizon"], s["mode"], s["model"], s["model"],
            gr.Tabs(selected=s["kind"]))


def model_card(current):
    with _human_errors("read the model card"):
        return session.model_markdown(session.get_predictor(current))


def pick_example(evt: gr.SelectData):
    return "example", evt.index


def new_random_seed():
    return random.randrange(100_000)


with gr.Blocks(title="ConvLSTM next-frame prediction", delete_cache=(600, 900)) as demo:
    gr.Markdown(HEADER, elem_id="header", sanitize_html=False)  # static text, ours
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=380):
            kind_input = gr.Radio(KIND_CHOICES, value="example", label="Input", visible=False)
            example_input = gr.Number(0, precision=0, label="Example index", visible=False)
            with gr.Tabs(selected="example") as source_tabs:  # a tab's id is the input kind it selects
                with gr.Tab("Examples", id="example") as example_tab:
                    gallery = gr.Gallery([(t, str(i)) for i, t in enumerate(session.thumbnails())],
                                         label="Validation examples: click one to predict it", columns=8,
                                         height=272, allow_preview=False, selected_index=0, object_fit="contain",
                                         elem_id="thumbs", buttons=[])
                with gr.Tab("Random", id="random") as random_tab:
                    gr.Markdown("A fresh sequence made from validation digits (never seen in training), so every "
                                "horizon has ground truth. The same seed always makes the same video.")
                    with gr.Row():
                        seed_input = gr.Number(0, precision=0, minimum=0, maximum=2**32 - 1, label="Random seed",
                                               scale=2)
                        random_btn = gr.Button("🎲 New random sequence", scale=1)
                with gr.Tab("Clip", id="upload") as upload_tab:
                    upload_input = gr.File(file_types=[".gif", ".mp4", ".npy"], type="filepath",
                                           label="GIF, MP4 or .npy (T, H, W) · up to 20 MB, 300 frames, 1024×1024",
                                           height=110)
                    with gr.Row():
                        upload_preview = gr.Image(label="Your clip as the model sees it", type="filepath",
                                                  height=170, interactive=False, scale=1, show_label=False,
                                                  buttons=[])
                        upload_info = gr.Markdown("Frames after the seed frames are the ground truth.")
                with gr.Tab("Make your own", id="compose") as compose_tab:
                    gr.Markdown("Draw a digit (try a 9: the model never saw one), pick its path, and watch the model "
                                "follow it. Drawings are scaled and centred as MNIST digits are.")
                    with gr.Row():
                        sketch = gr.Sketchpad(label="Draw a digit", canvas_size=(280, 280), height=300, width=300,
                                              brush=gr.Brush(colors=["#000000"], default_size=22, color_mode="fixed"),
                                              layers=False, transforms=(), elem_id="sketch", scale=1)
                        with gr.Column(scale=1):
                            digit_a = gr.Dropdown(explore.DIGIT_CHOICES, value="drawn", label="Digit 1")
                            digit_b = gr.Dropdown(explore.DIGIT_CHOICES, value="3", label="Digit 2")
                            frames_input = gr.Slider(12, 110, value=30, step=1, label="Frames in all")
                    with gr.Accordion("Paths: start, direction (0° = right, 90° = up), speed (training used 3.6 "
                                      "only: other speeds show how it copes)", open=False):
                        path_inputs = []
                        for i, (x, y, d, v) in enumerate(((4, 30, 60, 3.6), (30, 4, 200, 3.6))):
                            with gr.Row():
                                path_inputs += [gr.Slider(0, 36, value=x, step=1, label=f"Digit {i + 1} x"),
                                                gr.Slider(0, 36, value=y, step=1, label=f"Digit {i + 1} y"),
                                                gr.Slider(0, 359, value=d, step=1, label=f"Digit {i + 1} direction"),
                                                gr.Slider(0, 4, value=v, step=0.1, label=f"Digit {i + 1} speed")]
                    compose_btn = gr.Button("Make it move & predict", variant="secondary")
                    composed = gr.State(None)
            with gr.Group():
                context_input = gr.Slider(1, session.MAX_CONTEXT, value=10, step=1, label="Seed frames",
                                          info="true frames the model sees first (blue)")
                horizon_input = gr.Slider(1, session.MAX_HORIZON, value=10, step=1, label="Frames to predict",
                                          info="how far ahead it imagines (orange)")
                mode_input = gr.Radio(MODE_CHOICES, value="free-running", label="Mode")
            predict_btn = gr.Button("Predict", variant="primary", size="lg")
            with gr.Accordion("Model", open=True):
                with gr.Row():
                    model_input = gr.Dropdown(bundled_models(), value="default", label="Bundled model", scale=1)
                    hub_input = gr.Textbox(label="…or a Hugging Face Hub model", placeholder="hf://owner/repo",
                                           max_lines=1, scale=2)
                with gr.Row():
                    model_state = gr.Textbox("default", label="Model in use", interactive=False, max_lines=1, scale=2)
                    model_btn = gr.Button("Load model", scale=1)
                model_output = gr.Markdown()
        with gr.Column(scale=7, min_width=480), gr.Tabs():
            with gr.Tab("Prediction"):
                panel_output = gr.Image(label="Truth | prediction | error", type="filepath", interactive=False,
                                        elem_id="panel", height=340, show_label=False,
                                        buttons=["download", "fullscreen"])
                with gr.Row(equal_height=True):
                    truth_output = gr.Image(label="Truth", type="filepath", interactive=False, height=230, scale=1,
                                            show_label=False, buttons=[])
                    prediction_output = gr.Image(label="Prediction", type="filepath", interactive=False, height=230,
                                                 scale=1, show_label=False, buttons=[])
                    with gr.Column(scale=2):
                        summary_output = gr.Markdown()
                with gr.Row():
                    plot_style = dict(x="frames ahead", color="run", color_map=PLOT_COLOURS, height=230)
                    mse_output = gr.LinePlot(y="MSE", title="MSE per frame (lower is better)", label="MSE per frame",
                                             show_label=False, **plot_style)
                    ssim_output = gr.LinePlot(y="SSIM", title="SSIM per frame (higher is better)",
                                              label="SSIM per frame",
                                              show_label=False, y_lim=[0, 1], **plot_style)
                gr.Markdown("**Frame strip**: the last seed frame, then up to 12 evenly spaced predicted frames (for "
                            "inputs made here, not uploads, also the best possible prediction: see the table).")
                strip_output = gr.Image(label="Frame strip", type="filepath", interactive=False, show_label=False,
                                        buttons=[])
                files_output = gr.File(label="Downloads: predicted frames (.npy float32 in [0, 1], .gif, .mp4)",
                                       file_count="multiple", interactive=False)
                link_output = gr.Textbox(label="Link to this result (same input and settings)", buttons=["copy"],
                                         interactive=False, max_lines=1, elem_id="share")
            with gr.Tab("Compare models"):
                gr.Markdown("The current input through two models at once, both free-running.")
                with gr.Row():
                    compare_a = gr.Dropdown(bundled_models(), value="default", label="Model A", allow_custom_value=True)
                    compare_b = gr.Dropdown(bundled_models(), value=(bundled_models() + ["default"])[1],
                                            label="Model B", allow_custom_value=True,
                                            info="a bundled model or hf://owner/repo")
                    compare_btn = gr.Button("Compare", variant="primary")
                compare_output = gr.Image(label="Truth | model A | model B", type="filepath", interactive=False,
                                          height=340, show_label=False, elem_id="compare")
                with gr.Row():
                    compare_mse = gr.LinePlot(y="MSE", title="MSE per frame (lower is better)", show_label=False,
                                              x="frames ahead", color="run", height=230)
                    compare_ssim = gr.LinePlot(y="SSIM", title="SSIM per frame (higher is better)", show_label=False,
                                               x="frames ahead", color="run", height=230, y_lim=[0, 1])
                compare_summary = gr.Markdown()
            with gr.Tab("Look inside"):
                gr.Markdown(explore.LOOK_INSIDE_LEGEND)
                inspect_btn = gr.Button("Show what the model did", variant="primary")
                inspect_output = gr.Image(label="Displacements and choice per predicted frame", type="filepath",
                                          interactive=False, height=340, show_label=False, elem_id="inspect")
                inspect_summary = gr.Markdown()

    outputs = [truth_output, prediction_output, panel_output, strip_output, mse_output, ssim_output, summary_output,
               files_output]
    inputs = [kind_input, example_input, seed_input, context_input, horizon_input, mode_input, model_state,
              upload_input, composed]
    source = [kind_input, example_input, seed_input, context_input, horizon_input]  # what any view reads
    settings = source + [mode_input, model_state]
    upload_args = [upload_input, context_input, horizon_input, mode_input, model_state]
    private = dict(api_visibility="private")

    predict_btn.click(predict, inputs, outputs, api_name="predict").then(share_link, settings, link_output,
                                                                         **private)
    # Every prediction also refreshes the share link, so the link always names what the page shows.
    gallery.select(pick_example, None, [kind_input, example_input], **private).then(
        predict, inputs, outputs, **private).then(share_link, settings, link_output, **private)
    random_btn.click(new_random_seed, None, seed_input, **private).then(
        lambda: "random", None, kind_input, **private).then(predict, inputs, outputs, **private).then(
        share_link, settings, link_output, **private)
    for tab, kind in ((example_tab, "example"), (random_tab, "random"), (upload_tab, "upload"),
                      (compose_tab, "compose")):
        tab.select(lambda k=kind: k, None, kind_input, **private)
    # An upload is checked and previewed, then predicted at once, like a picked example.
    upload_input.upload(load_upload, upload_input, [upload_preview, upload_info], api_name="load_upload").success(
        predict_upload, upload_args, outputs, api_name="predict_upload").then(
        share_link, settings, link_output, **private)  # the Clip tab has set the kind to "upload"
    model_btn.click(load_model, [model_input, hub_input, model_state], [model_state, model_output],
                    api_name="load_model")
    compose_btn.click(lambda: "compose", None, kind_input, **private).then(
        compose, [digit_a, digit_b, sketch, *path_inputs, frames_input, context_input, horizon_input, mode_input,
                  model_state], outputs + [composed], api_name="compose").then(
        share_link, settings, link_output, **private)
    compare_btn.click(compare, source + [compare_a, compare_b, upload_input, composed],
                      [compare_output, compare_mse, compare_ssim, compare_summary], api_name="compare")
    inspect_btn.click(inspect, source + [model_state, upload_input, composed], [inspect_output, inspect_summary],
                      api_name="inspect")
    # No dead first screen: a shared link's settings (or the defaults) are applied, then predicted.
    demo.load(apply_link, None, settings + [model_input, source_tabs], **private).then(
        model_card, model_state, model_output, **private).then(predict, inputs, outputs, **private).then(
        share_link, settings, link_output, **private)

# Two requests at a time (each already uses both cores of a free CPU Space), at most 32 waiting: chosen with
# `python -m demo.appbench --launch --clients 8 --requests 4`; CONVLSTM_APP_CONCURRENCY overrides it.
demo.queue(default_concurrency_limit=int(os.environ.get("CONVLSTM_APP_CONCURRENCY", "2")), max_size=32)


def _warm_up():
    """Load the default model and trace its graphs while the server starts, so the first visitor waits less."""
    try:
        ctx, truth = session.select_frames("example", 0, context=10, horizon=10)
        session.run(session.get_predictor("default"), ctx, truth, 10)
    except Exception:  # never fatal: the first request would just be slower
        log.exception("warm-up failed")


if __name__ == "__main__":
    demo.launch(theme=gr.themes.Soft(), css=CSS, max_file_size=media.MAX_BYTES, prevent_thread_lock=True)
    threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()  # after the server is up
    demo.block_thread()
