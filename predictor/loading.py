"""`load_predictor(source)`: one entry point for every place a model can come from.

Accepted sources (keras-hub `from_preset` style):
- `None` or `"default"`: the bundled model, `assets/default.keras` (offline);
- a bundled model's name, e.g. `"default"` (any `assets/<name>.keras`);
- a path to a local `.keras` file;
- `"hf://owner/repo"` (optionally `"hf://owner/repo/file.keras"`): a Keras 3 model on the Hugging Face Hub,
  downloaded and cached by `huggingface_hub` (honours `HF_HUB_OFFLINE` and `HF_TOKEN`), see `predictor.hub`;
- only with `trust_legacy=True`: a legacy Keras `.h5` file or a TF SavedModel folder, local or on the Hub
  (e.g. the Keras example's original `hf://keras-io/conv-lstm`, run through `keras.layers.TFSMLayer`).
Every `.keras` model loads with `safe_mode=True`: a file that needs arbitrary code (a Lambda layer) is refused.
Legacy formats can run code or graph ops their author chose, which safe_mode cannot check: hence the opt-in.
A JSON model card beside the file (`name.json`) becomes the predictor's `info`.
Every problem (unknown repo, no network, no compatible file, wrong input/output shape) is a `ValueError`.
"""

from __future__ import annotations

import functools
import json
import os

import keras

from predictor.hub import HF_PREFIX, LEGACY_EXTS, SAVED_MODEL, download_model, is_hub_source, untrusted_error
from predictor.moving_mnist import ASSETS
from predictor.predictor import Predictor, SeedPredictor, StreamingPredictor

# Registers the custom layers and metrics so that safe_mode deserialization finds them.
import predictor.layers  # noqa: F401
import predictor.metrics  # noqa: F401
from predictor.models import StreamingConvLSTM

DEFAULT_MODEL = "default"


def bundled_models() -> list[str]:
    """Names of the `.keras` models in `assets/`, default first."""
    names = sorted(f[: -len(".keras")] for f in os.listdir(ASSETS) if f.endswith(".keras"))
    return sorted(names, key=lambda n: n != DEFAULT_MODEL)


def resolve(source: str | None, trust_legacy: bool = False) -> tuple[str, str]:
    """(format, local path) for `source`: format "keras", or with `trust_legacy` "h5" / "savedmodel"."""
    source = DEFAULT_MODEL if source in (None, "") else str(source).strip()
    if is_hub_source(source):
        return download_model(source, trust_legacy)
    if os.path.exists(os.path.join(ASSETS, f"{source}.keras")) and os.sep not in source:
        return "keras", os.path.join(ASSETS, f"{source}.keras")
    legacy = ("h5" if source.endswith(LEGACY_EXTS) and os.path.isfile(source)
              else "savedmodel" if os.path.isfile(os.path.join(source, SAVED_MODEL)) else None)
    if legacy:
        if not trust_legacy:
            raise untrusted_error(legacy, source)
        return legacy, source
    if not source.endswith(".keras"):
        raise ValueError(
            "A model source must be a bundled model name "
            f"({', '.join(bundled_models())}), a path to a .keras file, or {HF_PREFIX}owner/repo. Received: {source!r}"
        )
    if not os.path.isfile(source):
        raise ValueError(f"Model file not found: {source!r}")
    return "keras", source


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
    try:  # a multi-input or multi-output model has no single shape: Keras raises
        shape_in, shape_out = model.input_shape, model.output_shape
    except (AttributeError, ValueError):
        shape_in = shape_out = None
    check_frame_shapes(shape_in, shape_out)
    return (SeedPredictor if is_example_seed(model) else GenericSeedPredictor)(model, info, source)


def is_example_seed(model) -> bool:
    """True for the Keras example's network (`predictor.models.build_seed_model`): named "seed" or
    "seed_causal", a Conv3D head of kernel 3 over a ConvLSTM stack, the layout `SeedPredictor.one_step`'s
    shortcuts rely on (a single pass, or the head run once per 3-frame window)."""
    layers = getattr(model, "layers", None) or [None]
    head = layers[-1]
    return (getattr(model, "name", None) in ("seed", "seed_causal") and isinstance(head, keras.layers.Conv3D)
            and tuple(head.kernel_size) == (3, 3, 3))


class GenericSeedPredictor(SeedPredictor):
    """Any other Keras model mapping `(B, T, 64, 64, 1)` frames to next frames (output t predicts frame
    t + 1): the example's rollout, and a teacher-forced `one_step` with one pass per prefix, which assumes
    nothing about its layers."""

    def _one_step(self, x):
        return self.one_step_by_prefixes(x)


def check_frame_shapes(shape_in, shape_out) -> None:
    """Raise unless both shapes are `(batch, time, 64, 64, 1)` (batch and time may be None)."""
    ok = lambda s: isinstance(s, (tuple, list)) and len(s) == 5 and tuple(s[-3:]) == (64, 64, 1)  # noqa: E731
    if not (ok(shape_in) and ok(shape_out)):
        raise ValueError(
            "The model does not map 64x64 grey frames to 64x64 grey frames: expected input and output shape "
            f"(batch, time, 64, 64, 1). Received: input {shape_in}, output {shape_out}"
        )


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


@functools.lru_cache(maxsize=4)
def _load_legacy(fmt: str, path: str, mtime: float) -> Predictor:
    if fmt == "savedmodel":
        from predictor.legacy import load_saved_model

        return load_saved_model(path)
    return _load(path, mtime)  # .h5: Keras 3 reads it (still with safe_mode=True for Lambda layers)


def load_predictor(source: str | None = None, *, trust_legacy: bool = False) -> Predictor:
    """A ready `Predictor` for `source` (see module docstring); cached per file.

    `trust_legacy=True` allows `.h5` files and TF SavedModels, which can run code of their author's choosing.
    """
    fmt, path = resolve(source, trust_legacy)
    path = os.path.abspath(path)
    if fmt != "keras":
        return _load_legacy(fmt, path, os.path.getmtime(path))
    return _load(path, os.path.getmtime(path))
