"""`load_predictor(source)`: one entry point for every place a model can come from.

Accepted sources (keras-hub `from_preset` style):
- `None` or `"default"`: the bundled model, `assets/default.keras` (offline);
- a bundled model's name, e.g. `"default"` (any `assets/<name>.keras`);
- a path to a local `.keras` file;
- `"hf://owner/repo"` (optionally `"hf://owner/repo/file.keras"`): a Keras 3 model on the Hugging Face Hub,
  downloaded and cached by `huggingface_hub` (honours `HF_HUB_OFFLINE` and `HF_TOKEN`).
Every model loads with `safe_mode=True`: a file that needs arbitrary code (a Lambda layer) is refused.
A JSON model card beside the file (`name.json`) becomes the predictor's `info`.
"""

from __future__ import annotations

import functools
import json
import os

import keras

from predictor.moving_mnist import ASSETS
from predictor.predictor import Predictor, SeedPredictor, StreamingPredictor

# Registers the custom layers and metrics so that safe_mode deserialization finds them.
import predictor.layers  # noqa: F401
import predictor.metrics  # noqa: F401
from predictor.models import StreamingConvLSTM

DEFAULT_MODEL = "default"
HF_PREFIX = "hf://"


def bundled_models() -> list[str]:
    """Names of the `.keras` models in `assets/`, default first."""
    names = sorted(f[: -len(".keras")] for f in os.listdir(ASSETS) if f.endswith(".keras"))
    return sorted(names, key=lambda n: n != DEFAULT_MODEL)


def resolve(source: str | None) -> str:
    """Local `.keras` path for `source` (downloading from the Hub for `hf://`)."""
    source = DEFAULT_MODEL if source in (None, "") else str(source).strip()
    if source.startswith(HF_PREFIX):
        return hub_download(source)
    if os.path.exists(os.path.join(ASSETS, f"{source}.keras")) and os.sep not in source:
        return os.path.join(ASSETS, f"{source}.keras")
    if not source.endswith(".keras"):
        raise ValueError(
            "A model source must be a bundled model name "
            f"({', '.join(bundled_models())}), a path to a .keras file, or hf://owner/repo. Received: {source!r}"
        )
    if not os.path.isfile(source):
        raise ValueError(f"Model file not found: {source!r}")
    return source


def parse_hub_id(source: str) -> tuple[str, str | None]:
    """`hf://owner/repo[/file.keras]` -> (`owner/repo`, filename or None)."""
    parts = source[len(HF_PREFIX):].strip("/").split("/")
    ok_part = lambda s: s and s not in (".", "..") and all(c.isalnum() or c in "-_." for c in s)  # noqa: E731
    if len(parts) not in (2, 3) or not all(ok_part(p) for p in parts) or (len(parts) == 3 and not parts[2].endswith(".keras")):
        raise ValueError(f"A Hub model must be written hf://owner/repo or hf://owner/repo/file.keras. Received: {source!r}")
    return "/".join(parts[:2]), (parts[2] if len(parts) == 3 else None)


def hub_download(source: str) -> str:
    import huggingface_hub
    from huggingface_hub import errors

    repo_id, filename = parse_hub_id(source)
    try:
        if filename is None:
            files = huggingface_hub.list_repo_files(repo_id)
            keras_files = [f for f in files if f.endswith(".keras")]
            if not keras_files:
                raise ValueError(f"Hub repo {repo_id!r} has no .keras model file (files: {', '.join(files[:10])}).")
            filename = "model.keras" if "model.keras" in keras_files else keras_files[0]
        path = huggingface_hub.hf_hub_download(repo_id, filename)
        card = os.path.splitext(filename)[0] + ".json"
        try:
            huggingface_hub.hf_hub_download(repo_id, card)
        except errors.EntryNotFoundError:
            pass
        return path
    except errors.RepositoryNotFoundError as e:
        raise ValueError(f"Hub repo {repo_id!r} was not found (or is private and no HF_TOKEN was given).") from e
    except errors.EntryNotFoundError as e:
        raise ValueError(f"Hub repo {repo_id!r} has no file {filename!r}.") from e
    except (errors.LocalEntryNotFoundError, OSError) as e:
        raise ValueError(f"Could not reach the Hugging Face Hub for {repo_id!r} and it is not cached: {e}") from e


def read_card(model_path: str) -> dict:
    card = os.path.splitext(model_path)[0] + ".json"
    if not os.path.exists(card):
        return {}
    with open(card) as f:
        return json.load(f)


def wrap(model: keras.Model, info: dict, source: str) -> Predictor:
    """Pick the rollout procedure that fits `model`; refuse models that do not map 64x64 grey frames."""
    if isinstance(model, StreamingConvLSTM):
        return StreamingPredictor(model, info, source)
    shape_in = tuple(model.input_shape) if hasattr(model, "input_shape") else None
    shape_out = tuple(model.output_shape) if hasattr(model, "output_shape") else None
    if shape_in is None or shape_in[-3:] != (64, 64, 1) or shape_out is None or shape_out[-3:] != (64, 64, 1):
        raise ValueError(
            "The model does not map 64x64 grey frames to 64x64 grey frames: expected input and output shape "
            f"(batch, time, 64, 64, 1). Received: input {shape_in}, output {shape_out}"
        )
    return SeedPredictor(model, info, source)


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> Predictor:
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # keras raises many types for a bad file; the caller needs one clear message
        msg = str(e).split("\n")[0]
        if "Lambda" in msg or "safe_mode" in msg:
            raise ValueError(f"Refusing to load {path}: it needs arbitrary code to load (safe_mode). {msg}") from e
        raise ValueError(f"Could not read a Keras model from {path}: {msg}") from e
    return wrap(model, read_card(path), path)


def load_predictor(source: str | None = None) -> Predictor:
    """A ready `Predictor` for `source` (see module docstring); cached per file."""
    path = os.path.abspath(resolve(source))
    return _load(path, os.path.getmtime(path))
