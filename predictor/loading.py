"""`load_predictor(source)`: one entry point for every place a model can come from.

Accepted sources (keras-hub `from_preset` style):
- `None` or `"default"`: the bundled model, `assets/default.keras` (offline);
- a bundled model's name, e.g. `"default"`, `"whole-frames"`, `"any-speed"` (any `assets/<name>.keras`; the
  earlier names in `ALIASES` too);
- a path to a local `.keras` file;
- `"hf://owner/repo"` (optionally `"hf://owner/repo/file.keras"`): a Keras 3 model on the Hugging Face Hub,
  downloaded and cached by `huggingface_hub` (honours `HF_HUB_OFFLINE` and `HF_TOKEN`), see `predictor.hub`;
- only with `trust_legacy=True`: a legacy Keras `.h5` file or a TF SavedModel folder, local or on the Hub
  (e.g. the Keras example's original `hf://keras-io/conv-lstm`, run through `keras.layers.TFSMLayer`).
Every `.keras` model is first checked as data by `predictor.untrusted` (file and unpacked size, allowed layer
classes, parameter count from the config: refused in milliseconds, before Keras allocates anything), then loads
with `safe_mode=True`: a file that needs arbitrary code (a Lambda layer) is refused.
Legacy formats can run code or graph ops their author chose, which safe_mode cannot check: hence the opt-in.
A JSON model card beside the file (`name.json`) becomes the predictor's `info`.
Every problem (unknown repo, no network, no compatible file, wrong input/output shape) is a `ValueError`.
"""

from __future__ import annotations

import functools
import json
import os

import keras

from predictor import runtime
from predictor.hub import HF_PREFIX, LEGACY_EXTS, SAVED_MODEL, download_model, is_hub_source, untrusted_error
from predictor.moving_mnist import ASSETS
from predictor.predictor import (GenericSeedPredictor, Predictor, SeedPredictor, StreamingPredictor,
                                 check_frame_shapes, is_example_seed)
from predictor.untrusted import check_file_size, inspect_keras_file

# Registers the custom layers and metrics so that safe_mode deserialization finds them.
import predictor.layers  # noqa: F401
import predictor.metrics  # noqa: F401
from predictor.models import StreamingConvLSTM

DEFAULT_MODEL = "default"
# Bundled models' earlier names, still accepted: they said when a model was made, not what it is.
ALIASES = {"previous": "whole-frames", "persistent": "mse-finetune"}


def bundled_models() -> list[str]:
    """Names of the `.keras` models in `assets/`, default first."""
    names = sorted(f[: -len(".keras")] for f in os.listdir(ASSETS) if f.endswith(".keras"))
    return sorted(names, key=lambda n: n != DEFAULT_MODEL)


def resolve(source: str | None, trust_legacy: bool = False) -> tuple[str, str]:
    """(format, local path) for `source`: format "keras", or with `trust_legacy` "h5" / "savedmodel"."""
    source = DEFAULT_MODEL if source in (None, "") else str(source).strip()
    source = ALIASES.get(source, source)
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


def card_path(model_path: str) -> str:
    """The JSON card beside a model file: `m.keras` -> `m.json`."""
    return os.path.splitext(model_path)[0] + ".json"


def read_card(model_path: str) -> dict:
    card = card_path(model_path)
    if not os.path.exists(card):
        return {}
    with open(card) as f:
        return json.load(f)


def wrap(model: keras.Model, info: dict, source: str, layers: int | None = None, experts=None,
         own_speeds=None, tracks: bool | None = None) -> Predictor:
    """Pick the rollout procedure that fits `model`; refuse models that do not map 64x64 grey frames.
    `layers`, `experts`, `own_speeds`, `tracks`: a streaming model's rollout options (see `StreamingPredictor`);
    None: its card's."""
    if isinstance(model, StreamingConvLSTM):
        names = (info.get("rollout") or {}).get("experts", []) if experts is None else list(experts)
        p = StreamingPredictor(model, info, source, layers=layers, experts=expert_models(info, experts),
                               own_speeds=own_speeds, tracks=tracks)
        p.expert_names = [str(n) for n in names]
        return p
    if layers or experts or own_speeds or tracks:
        raise ValueError(f"Digit layers, experts, tracks and own speeds are rollout options of streaming models only. "
                         f"Received: layers={layers!r}, experts={experts!r}, own_speeds={own_speeds!r}, "
                         f"tracks={tracks!r} for a {type(model).__name__}")
    try:  # a multi-input or multi-output model has no single shape: Keras raises
        shape_in, shape_out = model.input_shape, model.output_shape
    except (AttributeError, ValueError):
        shape_in = shape_out = None
    check_frame_shapes(shape_in, shape_out)
    return (SeedPredictor if is_example_seed(model) else GenericSeedPredictor)(model, info, source)


def read_model(path: str) -> tuple[keras.Model, dict]:
    """The Keras model in local file `path` and its card, with every check `load_predictor` makes; no predictor
    around it, so it also works under a non-TensorFlow Keras backend (training on JAX warm-starts with it)."""
    if path.endswith(".keras"):  # size, zip bomb, allowed classes, parameter count: before Keras builds anything
        inspect_keras_file(path)
    else:  # a trusted legacy .h5: its size at least
        check_file_size(os.path.getsize(path), path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # keras raises many types for a bad file; the caller needs one clear message
        msg = str(e).split("\n")[0]
        if "Lambda" in msg or "safe_mode" in msg:
            raise ValueError(f"Refusing to load {path}: it needs arbitrary code to load (safe_mode). {msg}") from e
        raise ValueError(f"Could not read a Keras model from {path}: {msg}") from e
    return model, read_card(path)


def expert_models(info: dict, experts=None) -> list:
    """The expert networks of a streaming predictor: `experts` (sources as `load_predictor` takes them), or where
    that is None, the bundled models its card names (`rollout.experts`: a card from elsewhere may only name models
    shipped here). `"copy-last"` names `predictor.rollout.CopyLast`, the hand-written candidate."""
    from predictor.rollout import COPY_LAST, CopyLast

    if experts is None:
        experts = (info.get("rollout") or {}).get("experts", [])
        unknown = [e for e in experts if e not in bundled_models() and e != COPY_LAST]
        if unknown:
            raise ValueError(f"A model card may only name bundled models ({', '.join(bundled_models())}) as experts. "
                             f"Received: {unknown}")
    models = []
    for source in experts:
        if source == COPY_LAST:
            models.append(CopyLast())
            continue
        try:
            fmt, path = resolve(source)
            model, _ = read_model(path)
        except ValueError as e:
            raise ValueError(f"Cannot load expert {source!r}: {e}") from e
        if fmt != "keras" or not isinstance(model, StreamingConvLSTM):
            raise ValueError(f"An expert must be a streaming model (StreamingConvLSTM). Received: {source!r}")
        models.append(model)
    return models


def _read(path: str, layers: int | None = None, experts=None, own_speeds=None, tracks=None) -> Predictor:
    return wrap(*read_model(path), path, layers=layers, experts=experts, own_speeds=own_speeds, tracks=tracks)


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime: float, layers: int | None, experts: tuple | None, own_speeds: tuple | None,
          tracks: bool | None = None) -> Predictor:
    return _read(path, layers, experts, own_speeds, tracks)  # `mtime` in the key: a rewritten file is read again


@functools.lru_cache(maxsize=4)
def _load_legacy(fmt: str, path: str, mtime: float) -> Predictor:
    if fmt == "savedmodel":
        from predictor.legacy import load_saved_model

        return load_saved_model(path)
    return _read(path)  # .h5: Keras 3 reads it (still with safe_mode=True for Lambda layers)


def load_predictor(source: str | None = None, *, layers: int | None = None, experts=None, own_speeds=None,
                   tracks: bool | None = None, trust_legacy: bool = False, cache: bool = True,
                   rollout_threads: bool = True) -> Predictor:
    """A ready `Predictor` for `source` (see module docstring); cached per file (the last 4) unless `cache=False`.

    `layers` (streaming models): 0 rolls out the whole frames, as the network was trained; N splits the context
    into up to N digit layers first, a hand-written step (`predictor.separate`); None: what the model's card says.
    `experts` (streaming models): more networks, each part of a context rolled out by whichever predicts its last
    context frames best (`StreamingPredictor`); e.g. `experts=()` for the model alone; None: what its card says.
    `own_speeds` (streaming models with experts): (low, high) px/frame, digit layers moving at them stay the model's
    (`predictor.predictor.speed_rule`); `()` for no such rule; None: what its card says.
    `tracks` (streaming models): True draws each part the split makes (with `layers` > 0) that moves as the
    generator moves a digit where its possible tracks put it, a hand-written step (`predictor.rigid`); False rolls
    every part out with the networks; None: what its card says.

    `trust_legacy=True` allows `.h5` files and TF SavedModels, which can run code of their author's choosing.
    `cache=False` is for callers that keep models themselves (the app bounds its own by count and parameters):
    a second cache here would hold models that the caller has dropped.

    `rollout_threads=True` first sets TensorFlow's threads for rollouts as the app does
    (`predictor.runtime.use_rollout_threads`: one thread per op, two ops at a time, which the streaming rollout is
    built for; docs/training.md has the timings). It is process-wide and only possible before TensorFlow runs its
    first op: where TensorFlow has already started (the process trained or ran a model first) nothing changes.
    `False` leaves TensorFlow's defaults, e.g. in a process that will also train.
    """
    if rollout_threads:  # before the model's weights are built: that starts TensorFlow and fixes its thread pools
        runtime.use_rollout_threads()
    fmt, path = resolve(source, trust_legacy)
    path = os.path.abspath(path)
    if fmt != "keras":
        if layers or experts or own_speeds or tracks:
            raise ValueError(f"Digit layers, experts, tracks and own speeds are rollout options of streaming .keras "
                             f"models only. Received: layers={layers!r}, experts={experts!r}, "
                             f"own_speeds={own_speeds!r}, tracks={tracks!r} for a {fmt} model")
        return _load_legacy(fmt, path, os.path.getmtime(path))
    experts = None if experts is None else tuple(experts)
    own_speeds = None if own_speeds is None else tuple(own_speeds)
    if not cache:
        return _read(path, layers, experts, own_speeds, tracks)
    return _load(path, os.path.getmtime(path), layers, experts, own_speeds, tracks)
