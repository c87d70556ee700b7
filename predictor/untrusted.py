"""Checks on a `.keras` file from a stranger, done before Keras builds anything from it.

`safe_mode=True` stops code (Lambda layers) but not size: a 2 KB archive whose `config.json` declares one huge
Conv2D makes Keras allocate gigabytes while it builds the model, before it ever reads the (small) weights. So a
model from the Hub, or any `.keras` file the app did not ship, is first read as data:

1. the file's size (from the Hub's metadata before downloading, then on disk);
2. the zip archive: number of entries and their uncompressed sizes as the archive declares them (Python's
   `zipfile`, which Keras uses too, never returns more than the declared size, so a zip bomb cannot lie its
   way past this) and `config.json` read with a size cap;
3. every `class_name` in the config against an allow-list: this project's registered layers and the standard
   Keras layers whose weights can be counted (no Lambda, no TFSMLayer);
4. the number of parameters, computed from the config without allocating anything.

Each refusal is a `ValueError` that names the limit and the value found. Limits come from `Limits.from_env()`:

| variable | default | what it bounds |
|---|---|---|
| `CONVLSTM_MAX_MODEL_MB` | 50 | the `.keras` file's size |
| `CONVLSTM_MAX_UNPACKED_MB` | 200 | the archive's total uncompressed size |
| `CONVLSTM_MAX_PARAMS` | 20,000,000 | parameters declared by the config |
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import zipfile

MB = 2**20
CONFIG_MAX_BYTES = 1 * MB  # the project's configs are < 10 KB; a large one can only be an attack
MAX_ENTRIES = 64
ARCHIVE_FILES = ("config.json", "metadata.json", "model.weights.h5")

# Layers with no weights: counted as 0 parameters.
_NO_WEIGHTS = {
    "InputLayer", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout", "SpatialDropout1D",
    "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "Reshape", "Flatten", "Permute",
    "RepeatVector", "Identity", "Rescaling", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
    "Concatenate", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
}
_CONV = {"Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}
_CONV_LSTM = {"ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"}
_NORMS = {"BatchNormalization": 4, "LayerNormalization": 2}  # weights per channel
_MODELS = {"Functional", "Sequential", "Model"}
# Objects that appear inside layer configs (dtype policies, initializers, tensors of the graph): no weights.
_CONFIG_OBJECTS = {"DTypePolicy", "FloatDTypePolicy", "__keras_tensor__", "__tuple__"}
_CONFIG_MODULES = ("keras.initializers", "keras.regularizers", "keras.constraints")
# This project's serializable classes (see predictor.layers / predictor.models).
_PROJECT = {"predictor>StreamingConvLSTM", "predictor>ConvLSTMCell", "predictor>MotionHead"}
_CODE = {"Lambda", "TFSMLayer"}  # run their author's code or graph: never allowed
ALLOWED_LAYERS = _NO_WEIGHTS | _CONV | _CONV_LSTM | set(_NORMS) | {"Dense", "TimeDistributed"} | _MODELS


@dataclasses.dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 50 * MB  # the .keras file
    max_unpacked_bytes: int = 200 * MB  # sum of the archive's uncompressed entries
    max_params: int = 20_000_000  # parameters the config declares

    @classmethod
    def from_env(cls) -> "Limits":
        env = os.environ.get
        return cls(max_file_bytes=int(float(env("CONVLSTM_MAX_MODEL_MB", 50)) * MB),
                   max_unpacked_bytes=int(float(env("CONVLSTM_MAX_UNPACKED_MB", 200)) * MB),
                   max_params=int(float(env("CONVLSTM_MAX_PARAMS", 20_000_000))))


def check_file_size(size: int, where: str, limits: Limits | None = None) -> None:
    """Refuse a model file of `size` bytes over `limits.max_file_bytes`."""
    limits = limits or Limits.from_env()
    if size > limits.max_file_bytes:
        raise ValueError(f"Refusing to load {where}: the model file is {size / MB:.1f} MB, over the limit of "
                         f"{limits.max_file_bytes / MB:.0f} MB (CONVLSTM_MAX_MODEL_MB).")


def inspect_keras_file(path: str, limits: Limits | None = None) -> dict:
    """Check the `.keras` file at `path` as data; returns `{"parameters": int, "classes": sorted names}`.

    Raises `ValueError` on a file too large, a zip bomb, a config that is too large or not JSON, a class
    outside the allow-list, or more parameters than `limits.max_params`. Reads at most the config's bytes.
    """
    limits = limits or Limits.from_env()
    check_file_size(os.path.getsize(path), path, limits)
    try:
        with zipfile.ZipFile(path) as archive:
            config = _read_config(archive, path, limits)
    except zipfile.BadZipFile as e:
        raise ValueError(f"Could not read a Keras model from {path}: not a .keras archive (a zip file): {e}") from e
    classes = set()
    try:
        params = count_params(config, classes)
    except ValueError as e:
        raise ValueError(f"Refusing to load {path}: {e}") from None
    if params > limits.max_params:
        raise ValueError(f"Refusing to load {path}: its config declares {params:,} parameters, over the limit of "
                         f"{limits.max_params:,} (CONVLSTM_MAX_PARAMS).")
    return {"parameters": params, "classes": sorted(classes)}


def _read_config(archive: zipfile.ZipFile, path: str, limits: Limits) -> dict:
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise ValueError(f"Refusing to load {path}: the archive has {len(entries)} entries, over the limit of {MAX_ENTRIES}.")
    unpacked = sum(e.file_size for e in entries)
    if unpacked > limits.max_unpacked_bytes:
        raise ValueError(f"Refusing to load {path}: the archive unpacks to {unpacked / MB:.1f} MB, over the limit of "
                         f"{limits.max_unpacked_bytes / MB:.0f} MB (CONVLSTM_MAX_UNPACKED_MB): a zip bomb or a "
                         "model far larger than this app serves.")
    names = {e.filename: e for e in entries}
    if "config.json" not in names:
        raise ValueError(f"Refusing to load {path}: the archive has no config.json (not a Keras 3 .keras file).")
    if names["config.json"].file_size > CONFIG_MAX_BYTES:
        raise ValueError(f"Refusing to load {path}: its config.json is {names['config.json'].file_size / MB:.1f} MB, "
                         f"over the limit of {CONFIG_MAX_BYTES / MB:.0f} MB.")
    with archive.open("config.json") as f:
        text = f.read(CONFIG_MAX_BYTES + 1)
    try:
        return json.loads(text)
    except ValueError as e:
        raise ValueError(f"Refusing to load {path}: its config.json is not valid JSON ({e}).") from e


def count_params(obj, classes: set | None = None, input_shape=None) -> int:
    """Parameters that the serialized Keras object `obj` (a config dict) would create, without creating them.

    Layers take their input channels from their `build_config`. Raises `ValueError` for a class outside the
    allow-list or a layer whose weights cannot be counted.
    """
    classes = set() if classes is None else classes
    if isinstance(obj, list):
        return sum(count_params(o, classes) for o in obj)
    if not isinstance(obj, dict):
        return 0
    if "class_name" not in obj:
        return sum(count_params(v, classes) for v in obj.values())
    name, module = obj.get("class_name"), obj.get("module") or ""
    registered = obj.get("registered_name") or ""
    cfg = obj.get("config") if isinstance(obj.get("config"), dict) else {}
    if registered in _PROJECT:
        classes.add(registered)
        return _project_params(registered, cfg)
    if name in _CONFIG_OBJECTS or module.startswith(_CONFIG_MODULES):
        return 0  # initializers etc. build no weights; their own configs hold numbers, not layers
    if name in _CODE:
        raise ValueError(f"its config uses {name}, a layer that can run arbitrary code chosen by the model's "
                         "author (safe_mode refuses it too).")
    if name not in ALLOWED_LAYERS or not (module.startswith("keras") or name in _MODELS):
        raise ValueError(f"class {name!r} (module {module!r}) is not on the allow-list of layers that load here "
                         "(this project's layers and standard Keras layers whose weights can be counted).")
    classes.add(name)
    if name in _MODELS:
        return count_params(cfg.get("layers", []), classes)
    shape = (obj.get("build_config") or {}).get("input_shape") or input_shape
    return _layer_params(name, cfg, shape, classes)


def _channels(shape, name) -> int:
    if not isinstance(shape, list) or not shape or not isinstance(shape[-1], int) or shape[-1] < 1:
        raise ValueError(f"cannot count the weights of its {name} layer (no input shape "
                         f"in its build_config). Received: {shape!r}")
    return shape[-1]


def _size(value, rank=1) -> int:
    values = value if isinstance(value, list) else [value] * rank
    return math.prod(int(v) for v in values)


def _layer_params(name, cfg, shape, classes) -> int:
    if name in _NO_WEIGHTS:
        return 0
    if name == "TimeDistributed":
        inner = shape[:1] + shape[2:] if isinstance(shape, list) else None
        return count_params(cfg.get("layer"), classes, inner)
    cin, bias = _channels(shape, name), bool(cfg.get("use_bias", True))
    if name in _NORMS:
        return _NORMS[name] * cin
    if name == "Dense":
        units = int(cfg["units"])
        return cin * units + units * bias
    rank = int(name[-2]) if name in _CONV | _CONV_LSTM and name[-2].isdigit() else 2
    if name.endswith("Transpose"):
        rank = int(name[4])
    k, f = _size(cfg["kernel_size"], rank), int(cfg["filters"])
    if name in _CONV_LSTM:
        return 4 * f * (k * cin + k * f) + 4 * f * bias
    groups = int(cfg.get("groups", 1))
    return k * (cin // groups) * f + f * bias


def _project_params(registered, cfg) -> int:
    if registered != "predictor>StreamingConvLSTM":
        # The cells and the head are built by StreamingConvLSTM itself and never appear alone in its config.
        raise ValueError(f"{registered} is only loaded as part of a StreamingConvLSTM.")
    filters = [int(f) for f in cfg.get("filters", [32, 32])]
    k, patch = int(cfg.get("kernel_size", 5)), int(cfg.get("patch", 4))
    window, n, motion = int(cfg.get("window", 9)), int(cfg.get("hypotheses", 2)), int(cfg.get("motion_features", 0))
    history = int(cfg.get("motion_history", 1))
    if min([k, patch, window, n, history, *filters]) < 1 or motion < 0:
        raise ValueError(f"a StreamingConvLSTM option is out of range. Received: {cfg!r}")
    pp, k2, feats = patch * patch, window * window, sum(filters)
    total, cin = 0, pp + motion
    if motion:
        total += history * k2 * motion + motion
    for f in filters:
        total += k * k * (cin + f) * 4 * f + 4 * f
        cin = f
    for out in (n * k2, pp * (n + 1), pp):  # the head's kernels, choice and generate convolutions (3x3)
        total += 9 * feats * out + out
    return total + (len(filters) if cfg.get("memory_warp") else 0)  # MemoryWarp's gates
