"""Gradio app: watch a ConvLSTM imagine the next frames of Moving MNIST.

    python app.py            # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured)

A thin Gradio Blocks layer: choosing frames, predicting, rendering and every check live in
`demo.session` (app policy) and `predictor` (the core). Every UI action is a named API endpoint (`/predict`,
`/predict_upload`, `/load_upload`, `/load_model`); every failure reaches the user as a `gr.Error`.
"""

import contextlib
import logging
import os
import random
import threading

import gradio as gr

from demo import session
from predictor import bundled_models, media

log = logging.getLogger("app")

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

KIND_CHOICES = [("bundled example", "example"), ("random sequence", "random"), ("your clip", "upload")]
MODE_CHOICES = [("free-running (feeds back its own guesses)", "free-running"),
                ("teacher-forced (sees the true frame before each guess)", "teacher-forced"),
                ("both", "both")]
PLOT_COLOURS = {"free-running": "#ff911e", "teacher-forced": "#8e44ad", "copy last frame": "#7f7f7f"}

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


def predict(kind, example_index, random_seed, context, horizon, mode, model, clip=None, progress=gr.Progress()):
    """Predict from a bundled example (kind "example", `example_index`), a fresh random sequence made from
    `random_seed` ("random") or an uploaded clip ("upload", `clip`): `context` seed frames, `horizon`
    predicted frames (1-60), `mode` free-running / teacher-forced / both, `model` a bundled name or hf:// id.

    Returns truth GIF, prediction GIF, panel GIF (truth | prediction | error), frame strip PNG, per-frame
    metrics (for the MSE and SSIM plots), a markdown summary and the downloads (.npy, .gif, .mp4).
    """
    with _human_errors("predict"):
        frames = media.read_clip(clip) if kind == "upload" and clip else None
        ctx, truth = session.select_frames(kind, example_index, random_seed, frames, context, horizon)
        predictor = session.get_predictor(model)
        return _outputs(session.run(predictor, ctx, truth, int(horizon), mode, progress))


def predict_upload(clip, context, horizon, mode, model, progress=gr.Progress()):
    """Predict from an uploaded GIF / MP4 / .npy clip; the frames after the seed frames are the ground truth."""
    if not clip:
        raise gr.Error("Upload a GIF, MP4 or .npy clip first.", title="Could not predict")
    return predict("upload", 0, 0, context, horizon, mode, model, clip, progress)


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
            with gr.Tabs():
                with gr.Tab("Examples") as example_tab:
                    gallery = gr.Gallery([(t, str(i)) for i, t in enumerate(session.thumbnails())],
                                         label="Validation examples: click one to predict it", columns=8,
                                         height=272, allow_preview=False, selected_index=0, object_fit="contain",
                                         elem_id="thumbs", buttons=[])
                with gr.Tab("Random") as random_tab:
                    gr.Markdown("A fresh sequence made from validation digits (never seen in training), so every "
                                "horizon has ground truth. The same seed always makes the same video.")
                    with gr.Row():
                        seed_input = gr.Number(0, precision=0, minimum=0, maximum=2**32 - 1, label="Random seed",
                                               scale=2)
                        random_btn = gr.Button("🎲 New random sequence", scale=1)
                with gr.Tab("Your clip") as upload_tab:
                    upload_input = gr.File(file_types=[".gif", ".mp4", ".npy"], type="filepath",
                                           label="GIF, MP4 or .npy (T, H, W) · up to 20 MB, 300 frames, 1024×1024",
                                           height=110)
                    with gr.Row():
                        upload_preview = gr.Image(label="Your clip as the model sees it", type="filepath",
                                                  height=170, interactive=False, scale=1, show_label=False,
                                                  buttons=[])
                        upload_info = gr.Markdown("Frames after the seed frames are the ground truth.")
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
        with gr.Column(scale=7, min_width=480):
            panel_output = gr.Image(label="Truth | prediction | error", type="filepath", interactive=False,
                                    elem_id="panel", height=340, show_label=False, buttons=["download", "fullscreen"])
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
                ssim_output = gr.LinePlot(y="SSIM", title="SSIM per frame (higher is better)", label="SSIM per frame",
                                          show_label=False, y_lim=[0, 1], **plot_style)
            gr.Markdown("**Frame strip**: the last seed frame, then up to 12 evenly spaced predicted frames.")
            strip_output = gr.Image(label="Frame strip", type="filepath", interactive=False, show_label=False,
                                    buttons=[])
            files_output = gr.File(label="Downloads: predicted frames (.npy float32 in [0, 1], .gif, .mp4)",
                                   file_count="multiple", interactive=False)

    outputs = [truth_output, prediction_output, panel_output, strip_output, mse_output, ssim_output, summary_output,
               files_output]
    inputs = [kind_input, example_input, seed_input, context_input, horizon_input, mode_input, model_state,
              upload_input]
    upload_args = [upload_input, context_input, horizon_input, mode_input, model_state]
    private = dict(api_visibility="private")

    predict_btn.click(predict, inputs, outputs, api_name="predict")
    gallery.select(pick_example, None, [kind_input, example_input], **private).then(predict, inputs, outputs,
                                                                                     **private)
    random_btn.click(new_random_seed, None, seed_input, **private).then(
        lambda: "random", None, kind_input, **private).then(predict, inputs, outputs, **private)
    for tab, kind in ((example_tab, "example"), (random_tab, "random"), (upload_tab, "upload")):
        tab.select(lambda k=kind: k, None, kind_input, **private)
    # An upload is checked and previewed, then predicted at once, like a picked example.
    upload_input.upload(load_upload, upload_input, [upload_preview, upload_info], api_name="load_upload").success(
        predict_upload, upload_args, outputs, api_name="predict_upload")
    model_btn.click(load_model, [model_input, hub_input, model_state], [model_state, model_output],
                    api_name="load_model")
    # No dead first screen: the first example is predicted as the page opens.
    demo.load(model_card, model_state, model_output, **private).then(predict, inputs, outputs, **private)

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
