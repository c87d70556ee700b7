"""Next-frame prediction on Moving MNIST with convolutional LSTMs.

    from predictor import load_predictor
    p = load_predictor()                       # bundled default model, offline
    future = p.predict(context, horizon=10)    # context (T, 64, 64) uint8 or float in [0, 1]
                                               # -> (10, 64, 64) float32 in [0, 1], free-running
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from predictor.loading import bundled_models, load_predictor  # noqa: E402
from predictor.predictor import Predictor  # noqa: E402

__all__ = ["load_predictor", "bundled_models", "Predictor"]
