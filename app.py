"""Gradio app: watch a ConvLSTM imagine the next frames of Moving MNIST.

    python app.py            # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured)

Layout and wiring only: what each action does lives in `demo.actions` (over `demo.inputs`, `demo.models`,
`demo.run`, ...), the page's words in `demo.page`, the core in `predictor`. Every UI action is one of these 7 named
API endpoints; every failure reaches the user as a `gr.Error`:

| endpoint | what it does |
|---|---|
| `/predict` | predict from a bundled example, a random sequence, an uploaded clip or a made sequence |
| `/predict_upload` | predict from an uploaded GIF / MP4 / .npy clip |
| `/load_upload` | check and preview an upload as the model sees it |
| `/load_model` | switch to a bundled model or an allowed `hf://owner/repo` |
| `/compose` | make your own sequence (drawn or chosen digits on chosen paths) and predict it |
| `/compare` | the same input through two models |
| `/inspect` | look inside a streaming model: its displacements and moved / fresh pixels per frame |
"""

import os
import random
import threading

import gradio as gr

from demo import actions, explore, inputs, page
from demo.page import human_errors
from predictor import bundled_models, media, runtime

runtime.use_rollout_threads()  # before TensorFlow starts: one thread per op, two ops at a time (predictor.runtime)

predict = page.endpoint(actions.predict, "predict")
actions.RESULTS.publish = page.in_gradio_cache  # a result answered again costs Gradio no hashing or copying
load_upload = page.endpoint(actions.load_upload, "read the clip")
compare = page.endpoint(actions.compare, "compare the models")
inspect = page.endpoint(actions.inspect, "look inside the model")


def predict_upload(clip, context, horizon, mode, model, progress=gr.Progress()):
    """Predict from an uploaded GIF / MP4 / .npy clip; the frames after the context frames are the ground truth."""
    if not clip:
        raise gr.Error("Upload a GIF, MP4 or .npy clip first.", title="Could not predict")
    return predict("upload", 0, 0, context, horizon, mode, model, clip, progress=progress)


def load_model(choice, hub_id, current):
    """Switch model: a Hub id (hf://owner/repo) in `hub_id` wins over the bundled `choice`. Returns (model in use,
    its card as markdown); on failure a `gr.Error` says why and `current` stays in use."""
    with human_errors("load the model", f"The current model, {current!r}, stays in use."):
        return actions.switch_model(choice, hub_id)


def compose(digit_a, digit_b, drawing, x_a, y_a, direction_a, speed_a, x_b, y_b, direction_b, speed_b, frames,
            context, horizon, mode, model, progress=gr.Progress()):
    """Make your own Moving MNIST sequence and predict it: two digits, each "drawn" (the sketchpad `drawing`,
    scaled and centred as MNIST digits are), "none", a class "0"-"7" (a validation digit) or a shape, each with a start
    (x, y px, 0-36), a direction (degrees, 0 = right, 90 = up) and a speed (px/frame, 0-4); `frames` in all.

    Returns the outputs of `/predict`, then the made sequence (kept by the page for Predict, Compare, Look inside).
    """
    with human_errors("make the sequence"):
        return actions.compose([digit_a, digit_b], drawing, [(x_a, y_a), (x_b, y_b)], [direction_a, direction_b],
                               [speed_a, speed_b], frames, context, horizon, mode, model, progress)


def share_link(kind, example_index, random_seed, context, horizon, mode, model, request: gr.Request):
    """A link that reopens the page on this input and these settings."""
    page_url = (request.headers.get("referer") or "") if request else ""
    return actions.share_link(page_url, kind, example_index, random_seed, context, horizon, mode, model)


def apply_link(request: gr.Request):
    """A shared link's checked settings (defaults otherwise), with the input tab of its kind shown."""
    s = explore.settings_from_query(dict(request.query_params) if request else {})
    return (s["kind"], s["example"], s["seed"], s["context"], s["horizon"], s["mode"], s["model"], s["model"],
            gr.Tabs(selected=s["kind"]))


def pick_example(evt: gr.SelectData):
    return "example", evt.index


def model_card(current):
    with human_errors("read the model card"):
        return actions.switch_model(current, "")[1]


with gr.Blocks(title="ConvLSTM next-frame prediction", delete_cache=(600, 900)) as demo:
    gr.Markdown(page.HEADER, elem_id="header", sanitize_html=False)  # static text, ours
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=380):
            kind_input = gr.Radio(page.KIND_CHOICES, value="example", label="Input", visible=False)
            example_input = gr.Number(0, precision=0, label="Example index", visible=False)
            with gr.Tabs(selected="example") as source_tabs:  # a tab's id is the input kind it selects
                with gr.Tab("Examples", id="example") as example_tab:
                    gallery = gr.Gallery([(t, str(i)) for i, t in enumerate(inputs.thumbnails())],
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
                        upload_info = gr.Markdown("Frames after the context frames are the ground truth.")
                with gr.Tab("Make your own", id="compose") as compose_tab:
                    gr.Markdown("Draw a digit (try a 9: the model never saw one) or pick one, or a shape; set its path "
                                "and watch the model follow it. Drawings are scaled and centred as MNIST digits are.")
                    with gr.Row():
                        sketch = gr.Sketchpad(label="Draw a digit", canvas_size=(280, 280), height=300, width=300,
                                              brush=gr.Brush(colors=["#000000"], default_size=22, color_mode="fixed"),
                                              layers=False, transforms=(), elem_id="sketch", scale=1)
                        with gr.Column(scale=1):
                            digit_a = gr.Dropdown(explore.DIGIT_CHOICES, value="drawn", label="Digit 1")
                            digit_b = gr.Dropdown(explore.DIGIT_CHOICES, value="3", label="Digit 2")
                            frames_input = gr.Slider(12, 110, value=30, step=1, label="Frames in all")
                    with gr.Accordion("Paths: start, direction (0° = right, 90° = up), speed (px/frame: Moving "
                                      "MNIST's is 3.6; other nets: 0-4, 0-1.25, 1.2-2.8, 2.6-4, 3.6-4)", open=False):
                        path_inputs = []
                        for i, (x, y, d, v) in enumerate(page.PATHS):
                            with gr.Row():
                                path_inputs += [gr.Slider(0, 36, value=x, step=1, label=f"Digit {i + 1} x"),
                                                gr.Slider(0, 36, value=y, step=1, label=f"Digit {i + 1} y"),
                                                gr.Slider(0, 359, value=d, step=1, label=f"Digit {i + 1} direction"),
                                                gr.Slider(0, 4, value=v, step=0.1, label=f"Digit {i + 1} speed")]
                    compose_btn = gr.Button("Make it move & predict", variant="secondary")
                    composed = gr.State(None)
            with gr.Group():
                context_input = gr.Slider(1, inputs.MAX_CONTEXT, value=10, step=1, label="Context frames",
                                          info="context (seed) frames: true frames the model sees first (blue)")
                horizon_input = gr.Slider(1, inputs.MAX_HORIZON, value=10, step=1, label="Frames to predict",
                                          info="how far ahead it imagines (orange)")
                mode_input = gr.Radio(page.MODE_CHOICES, value="free-running", label="Mode")
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
                        summary_output = gr.Markdown(elem_id="summary")
                with gr.Row():
                    plot_style = dict(x="frames ahead", color="run", color_map=page.PLOT_COLOURS, height=230)
                    mse_output = gr.LinePlot(y="MSE", title="MSE per frame (lower is better)", label="MSE per frame",
                                             show_label=False, **plot_style)
                    ssim_output = gr.LinePlot(y="SSIM", title="SSIM per frame (higher is better)",
                                              label="SSIM per frame",
                                              show_label=False, y_lim=[0, 1], **plot_style)
                gr.Markdown("**Frame strip**: the last context frame, then up to 12 evenly spaced predicted frames (for "
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
                    compare_b = gr.Dropdown(bundled_models(), value="whole-frames",  # the network alone
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
    predict_inputs = [kind_input, example_input, seed_input, context_input, horizon_input, mode_input, model_state,
                      upload_input, composed]
    source = [kind_input, example_input, seed_input, context_input, horizon_input]  # what any view reads
    settings = source + [mode_input, model_state]
    private = dict(api_visibility="private")

    def and_link(event):
        """After a prediction, refresh the share link, so the link always names what the page shows."""
        return event.then(share_link, settings, link_output, **private)

    and_link(predict_btn.click(predict, predict_inputs, outputs, api_name="predict", **page.PREDICTS))
    and_link(gallery.select(pick_example, None, [kind_input, example_input], **private).then(
        predict, predict_inputs, outputs, **private, **page.PREDICTS))
    and_link(random_btn.click(lambda: (random.randrange(100_000), "random"), None, [seed_input, kind_input],
                              **private).then(predict, predict_inputs, outputs, **private, **page.PREDICTS))
    for tab, kind in ((example_tab, "example"), (random_tab, "random"), (upload_tab, "upload"),
                      (compose_tab, "compose")):
        tab.select(lambda k=kind: k, None, kind_input, **private)
    # An upload is checked and previewed, then predicted at once, like a picked example (the Clip tab set the kind).
    and_link(upload_input.upload(load_upload, upload_input, [upload_preview, upload_info], api_name="load_upload")
             .success(predict_upload, [upload_input, context_input, horizon_input, mode_input, model_state], outputs,
                      api_name="predict_upload", **page.PREDICTS))
    model_btn.click(load_model, [model_input, hub_input, model_state], [model_state, model_output],
                    api_name="load_model")
    and_link(compose_btn.click(lambda: "compose", None, kind_input, **private).then(
        compose, [digit_a, digit_b, sketch, *path_inputs, frames_input, context_input, horizon_input, mode_input,
                  model_state], outputs + [composed], api_name="compose", **page.PREDICTS))
    compare_btn.click(compare, source + [compare_a, compare_b, upload_input, composed],
                      [compare_output, compare_mse, compare_ssim, compare_summary], api_name="compare")
    inspect_btn.click(inspect, source + [model_state, upload_input, composed], [inspect_output, inspect_summary],
                      api_name="inspect")
    # No dead first screen: a shared link's settings (or the defaults) are applied, then predicted.
    and_link(demo.load(apply_link, None, settings + [model_input, source_tabs], **private).then(
        model_card, model_state, model_output, **private).then(predict, predict_inputs, outputs, **private,
                                                               **page.PREDICTS))

# Two requests at a time (each uses both cores of a free CPU Space), except predictions (`page.PREDICTS`); up to 128
# waiting: a burst of 40 is queued, not refused (docs/reliability.md); CONVLSTM_APP_CONCURRENCY / _QUEUE override.
demo.queue(default_concurrency_limit=int(os.environ.get("CONVLSTM_APP_CONCURRENCY", "2")),
           max_size=int(os.environ.get("CONVLSTM_APP_QUEUE", "128")))

if __name__ == "__main__":
    demo.launch(theme=gr.themes.Soft(), css=page.CSS, max_file_size=media.MAX_BYTES, prevent_thread_lock=True)
    threading.Thread(target=actions.warm_up, name="warm-up", daemon=True).start()  # after the server is up
    demo.block_thread()
