"""The best possible prediction of an input the app generated: what knowing the digits and their exact positions in
the context frames allows (`predictor.bound`), shown beside the model's prediction as "best possible"."""

from __future__ import annotations

import functools

import numpy as np

from demo.inputs import examples, parse_context, parse_example_index, parse_horizon, parse_random_seed
from predictor.bound import best_frames
from predictor.moving_mnist import draws, load_examples

BEST = "best possible"  # the run name of `best_possible`'s frames in the plots, the table and the strip


def best_possible(kind: str, example_index=0, random_seed=0, context=10, horizon=10,
                  made: dict | None = None) -> np.ndarray | None:
    """The best prediction `(horizon, 64, 64) float32 in [0, 1]` of a generated input from its first `context`
    frames: what a reader that knows the digits and reads their exact positions in the context frames predicts
    (`predictor.bound`). Kinds "example" and "random" as `select_frames` picks them (cached), "compose" from `made`
    (`explore.make_sequence`'s frames with their digits and paths); None for uploads, whose hidden paths nobody
    knows. Read-only (its cost: docs/reliability.md)."""
    context, horizon = parse_context(context), parse_horizon(horizon)
    if kind == "compose" and made is not None:
        frames = best_frames(made["digits"], made["start"], made["vel"], context, horizon)
    elif kind == "example":
        frames = _generated_best(kind, parse_example_index(example_index), 0, context, horizon)
    elif kind == "random":
        frames = _generated_best(kind, 0, parse_random_seed(random_seed), context, horizon)
    else:
        return None
    frames.flags.writeable = False
    return frames


@functools.lru_cache(maxsize=1)
def _example_draws() -> tuple:
    """The hidden state behind the bundled examples (they were generated from the seed their file records)."""
    meta = load_examples()[1]
    return draws(len(examples()), rng=meta["seed"], source=meta["source"], split=meta["split"])


@functools.lru_cache(maxsize=32)  # each entry is at most 60 frames of 64x64 float32 (1 MB)
def _generated_best(kind: str, example_index: int, random_seed: int, context: int, horizon: int) -> np.ndarray:
    """Cached (its arguments parsed to ints, so "3" and 3 share an entry): shared by every request for this input."""
    if kind == "example":
        digits, start, vel = (a[example_index] for a in _example_draws())
    else:
        digits, start, vel = (a[0] for a in draws(1, rng=random_seed, split="val"))  # as select_frames draws it
    return best_frames(digits, start, vel, context, horizon)
