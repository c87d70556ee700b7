"""Opt-in legacy models: a Keras 2 TF SavedModel (such as the Hub's `keras-io/conv-lstm`) behind `TFSMLayer`.

    p = load_predictor("hf://keras-io/conv-lstm", trust_legacy=True)   # or a local SavedModel folder

Keras 3 cannot rebuild a Keras 2 SavedModel as layers, but `keras.layers.TFSMLayer` can call its serving
signature. The keras-io model is the Keras example's own network (its output t predicts frame t+1 and its
Conv3D head looks one frame ahead), so it gets the example's growing-sequence rollout from `SeedPredictor`.
A SavedModel is a TF graph chosen by its author, hence the explicit opt-in (see `predictor.hub`).
"""

from __future__ import annotations

import numpy as np

from predictor.predictor import SeedPredictor, check_frame_shapes

ENDPOINTS = ("serving_default", "serve")  # Keras 2 `model.save` / `tf.saved_model.save`, then Keras 3 `export`


def _shape(spec) -> tuple | None:
    shape = getattr(spec, "shape", None)
    return None if shape is None or shape.rank is None else tuple(shape.as_list())


class SavedModelRunner:
    """A SavedModel's serving endpoint with the small surface `SeedPredictor` uses: `predict`, `name`.

    `input_shape` / `output_shape` come from the signature, e.g. `(None, None, 64, 64, 1)`.
    """

    name = "seed"  # non-causal head, as in the example: one_step runs one pass per prefix

    def __init__(self, path: str):
        import keras
        import tensorflow as tf

        self.layer, missing = None, None
        for endpoint in ENDPOINTS:
            try:
                self.layer = keras.layers.TFSMLayer(path, call_endpoint=endpoint)
                break
            except ValueError as e:  # "The endpoint 'x' is neither an attribute ... nor a signature"
                if "endpoint" not in str(e):
                    raise ValueError(f"Could not read a TF SavedModel from {path}: {str(e).splitlines()[0]}") from e
                missing = e
            except Exception as e:  # TF raises OSError or its own errors for a folder that is not a SavedModel
                raise ValueError(f"Could not read a TF SavedModel from {path}: {str(e).splitlines()[0]}") from e
        if self.layer is None:
            raise ValueError(
                f"The SavedModel at {path} has no serving endpoint: expected one of {ENDPOINTS}. Received: {missing}"
            )
        fn = self.layer.call_endpoint_fn
        if not hasattr(fn, "structured_input_signature"):  # a restored tf.function (`serve`): ask its trace
            fn = fn.concrete_functions[0]
        args, kwargs = fn.structured_input_signature
        inputs = list(args) + list(kwargs.values())
        outputs = fn.structured_outputs
        outputs = list(outputs.values()) if isinstance(outputs, dict) else list(tf.nest.flatten(outputs))
        self.input_shape = _shape(inputs[0]) if len(inputs) == 1 else None
        self.output_shape = _shape(outputs[0]) if len(outputs) == 1 else None

    def predict(self, x: np.ndarray, verbose: int = 0) -> np.ndarray:
        """`(B, T, 64, 64, 1)` float32 in [0, 1] -> the signature's single output as NumPy."""
        import tensorflow as tf

        y = self.layer(tf.constant(x, tf.float32))
        if isinstance(y, dict):  # signatures return {output_name: tensor}
            (y,) = y.values()
        return np.asarray(y)

    def count_params(self) -> int:
        return int(sum(np.prod(v.shape) for v in self.layer.weights))


class LegacySavedModelPredictor(SeedPredictor):
    """`SeedPredictor` over a `SavedModelRunner`: the Keras example's O(T^2) rollout on a Keras 2 model."""

    kind = "legacy-savedmodel"

    def _one_step(self, x):  # a graph behind a signature: no layers to split, one pass per prefix
        return self.one_step_by_prefixes(x)


def load_saved_model(path: str, source: str = "") -> LegacySavedModelPredictor:
    """Predictor for the SavedModel folder `path`; `ValueError` if it does not map 64x64 grey frames."""
    runner = SavedModelRunner(path)
    check_frame_shapes(runner.input_shape, runner.output_shape)
    info = {"architecture": "Keras 2 TF SavedModel (legacy, through keras.layers.TFSMLayer)",
            "parameters": runner.count_params(), "format": "savedmodel"}
    return LegacySavedModelPredictor(runner, info, source or path)
