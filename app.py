"""Gradio app: watch a ConvLSTM imagine the next frames of Moving MNIST.

    python app.py            # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured)
"""

import gradio as gr

from predictor import bundled_models, load_predictor
from predictor import demo as core
from predictor.media import write_gif

DESCRIPTION = """
# Next-frame video prediction with ConvLSTMs
A video of two handwritten digits bouncing around a 64×64 box (**Moving MNIST**). The model sees the first few
frames — the **seed frames**, blue border — and then has to *imagine* what comes next, one frame at a time, feeding
each guess back in as if it had seen it (orange border). Its memory is a **convolutional LSTM**: an LSTM whose state is
an image-shaped grid, so it can remember *where* things are and *how* they move. Left: what really happened; middle:
what the model imagined; right: where they differ.
"""


def _predict(source, context, truth, horizon, mode, progress):
    try:
        predictor = load_predictor(source or "default")
        progress(0.2, desc=f"Predicting {int(horizon)} frames…")
        out = core.run(predictor, context, truth, int(horizon), mode)
    except ValueError as e:
        raise gr.Error(str(e))
    f = out["files"]
    return (f["truth"], f["prediction"], f["panel"], f["strip"], out["figure"], out["summary"],
            [f["npy"], f["gif"], f["mp4"]])


def predict(kind, example_index, random_seed, context, horizon, mode, model, progress=gr.Progress()):
    """Predict from a bundled example ('example') or a fresh random sequence ('random')."""
    try:
        ctx, truth = core.select_frames(kind, int(example_index), int(random_seed), None, int(context), int(horizon))
    except (ValueError, TypeError) as e:
        raise gr.Error(str(e))
    return _predict(model, ctx, truth, horizon, mode, progress)


def predict_upload(clip, context, horizon, mode, model, progress=gr.Progress()):
    """Predict from an uploaded GIF/MP4/.npy clip; frames after the seed frames are the ground truth."""
    try:
        frames = core.load_upload(clip)
        ctx, truth = core.select_frames("upload", upload=frames, context=int(context), horizon=int(horizon))
    except ValueError as e:
        raise gr.Error(str(e))
    return _predict(model, ctx, truth, horizon, mode, progress)


def load_upload(clip):
    """Decode an upload and return a 64x64 grey preview GIF and its frame count."""
    try:
        frames = core.load_upload(clip)
    except ValueError as e:
        raise gr.Error(str(e))
    path = write_gif(core.upscale(frames), clip + ".preview.gif")
    return path, f"{len(frames)} frames, converted to 64×64 grey."


def load_model(choice, hub_id, current):
    """Switch model: a Hub id (hf://owner/repo) wins over the bundled choice; on failure keep the current one."""
    source = hub_id.strip() if hub_id and hub_id.strip() else choice
    try:
        predictor = load_predictor(source)
    except ValueError as e:
        gr.Warning(f"Kept {current!r}: {e}")
        return current, core.model_markdown(load_predictor(current))
    return source, core.model_markdown(predictor)


def pick_example(evt: gr.SelectData):
    return "example", evt.index


with gr.Blocks(title="ConvLSTM next-frame prediction", delete_cache=(600, 900)) as demo:
    gr.Markdown(DESCRIPTION)
    with gr.Row():
        with gr.Column(scale=2):
            kind_input = gr.Radio(["example", "random", "upload"], value="example", label="Input",
                                  info="a validation example, a fresh random sequence, or your own clip")
            gallery = gr.Gallery([core.upscale(s[9:10], 2)[0] for s in core.examples()],
                                 columns=8, height=180, label="Validation examples (click one)", allow_preview=False)
            example_input = gr.Slider(0, len(core.examples()) - 1, value=0, step=1, label="Example")
            seed_input = gr.Number(0, precision=0, label="Random seed (for 'random')")
            with gr.Accordion("Upload a clip (GIF, MP4 or .npy)", open=False):
                upload_input = gr.File(file_types=[".gif", ".mp4", ".npy"], type="filepath", label="Clip")
                upload_preview = gr.Image(label="Preview (64×64 grey)", height=160)
                upload_info = gr.Markdown()
                upload_btn = gr.Button("Predict from upload")
            context_input = gr.Slider(1, core.MAX_CONTEXT, value=10, step=1, label="Seed frames")
            horizon_input = gr.Slider(1, core.MAX_HORIZON, value=10, step=1, label="Frames to predict")
            mode_input = gr.Radio(list(core.MODES), value="free-running", label="Mode",
                                  info="free-running feeds back its own guesses; teacher-forced sees the truth each step")
            predict_btn = gr.Button("Predict", variant="primary")
        with gr.Column(scale=3):
            panel_output = gr.Image(label="truth | prediction | error", type="filepath", show_label=False)
            with gr.Row():
                truth_output = gr.Image(label="Truth", type="filepath", height=200)
                prediction_output = gr.Image(label="Prediction", type="filepath", height=200)
            summary_output = gr.Markdown()
            plot_output = gr.Plot(label="Per-frame error")
            strip_output = gr.Image(label="Frames", type="filepath")
            files_output = gr.File(label="Download predicted frames", file_count="multiple")
    with gr.Accordion("Model", open=False):
        with gr.Row():
            model_input = gr.Dropdown(bundled_models(), value="default", label="Bundled model")
            hub_input = gr.Textbox(label="…or a Hub model", placeholder="hf://owner/repo")
            model_btn = gr.Button("Load model")
            model_state = gr.Textbox("default", label="Model in use", interactive=False, max_lines=1)
        model_output = gr.Markdown()

    outputs = [truth_output, prediction_output, panel_output, strip_output, plot_output, summary_output, files_output]
    inputs = [kind_input, example_input, seed_input, context_input, horizon_input, mode_input, model_state]
    predict_btn.click(predict, inputs, outputs, api_name="predict")
    gallery.select(pick_example, None, [kind_input, example_input], api_visibility="private").then(
        predict, inputs, outputs, api_visibility="private")
    upload_input.upload(load_upload, upload_input, [upload_preview, upload_info], api_name="load_upload")
    upload_btn.click(predict_upload, [upload_input, context_input, horizon_input, mode_input, model_state], outputs,
                     api_name="predict_upload")
    model_btn.click(load_model, [model_input, hub_input, model_state], [model_state, model_output], api_name="load_model")
    demo.load(predict, inputs, outputs, api_visibility="private").then(
        lambda s: core.model_markdown(load_predictor(s)), model_state, model_output, api_visibility="private")

demo.queue(default_concurrency_limit=2, max_size=32)

if __name__ == "__main__":
    demo.launch(theme=gr.themes.Soft(), max_file_size="20mb")
