"""Predictors: a loaded model plus the right rollout procedure for it.

    p = load_predictor()                          # see predictor.loading
    future = p.predict(context, horizon=10)       # (10, 64, 64) float32 in [0, 1], free-running
    one_step = p.one_step(frames)                 # (T-1, 64, 64): teacher-forced predictions of frames 1..T-1
    why = p.explain(context, horizon=10)          # streaming models: what the head decided per predicted frame
    ready = [p.prepare(c) for c in contexts]      # the numpy work on each context alone (checks, digit layers) ...
    futures = p.predict_prepared(ready, 10)       # ... then the model's: (B, 10, 64, 64), = predict_batch(contexts)

Inputs are frames `(T, 64, 64)` or `(T, 64, 64, 1)`, either uint8 in [0, 255] or float in [0, 1].
`StreamingPredictor` carries the recurrent state (one step per frame); `SeedPredictor` runs the Keras example's
growing-sequence rollout on its model, `GenericSeedPredictor` the same on any other frames-to-frames Keras model.
"""

from __future__ import annotations

import keras
import numpy as np

try:
    import tensorflow as tf
except ModuleNotFoundError:  # training under KERAS_BACKEND=jax needs the models, not these predictors
    tf = None

from predictor import runtime
from predictor.moving_mnist import PIXEL_RULES
from predictor.pixel_rule import context_rule
from predictor.rigid import read_rigid, share_rule, share_speed
from predictor.separate import leftover, split_digits, track_speed

MAX_HORIZON = 1000
MAX_LAYERS = 3  # digit layers a context may be split into (the tracker's cost grows with each)
EVIDENCE = 4  # context frames whose one-step predictions score a model for a context (with experts)
CONSULT = 0.1  # the model's error there (relative to the frames' ink) above which its experts are asked
MARGIN = 0.85  # an expert rolls a part out where its error there is below this times the best so far
OFF_MARGIN = 1.2  # the same for a network expert on a digit layer moving off the model's own speeds
# ... and for a network expert limited to some speeds on a digit layer in them, below the model's own speeds: where
# the experts are asked at all (`CONSULT`), it wins the layer from the model without comparing their evidence (there
# the model's one-step error is low but its rollout is not: a layer at 3.0 px/frame kept by the model on evidence,
# 97.9 against the expert's 32.2); copy-last, later in the order, may still win it
OUTRIGHT = 1e6
# px/frame: copy-last only takes a digit layer read slower than this over the whole context; a slow digit that rested
# at a wall in the last frames moves on (0.1-0.2 px/frame layers: copy-last 98.6 against `slow`'s 30.6 on one)
STILL = 0.05
# px/frame below and above the model's own speeds where a digit layer is read at a clip-mate's speed (`mate_speeds`)
MATE_BAND = (0.2, 0.05)
# weight of the rule experts' rollouts on own-speed digit layers whose rule no bounce tells (the model's: the
# rest); chosen on selection seeds: the rounded cell gains, the standard one pays a little (docs/training.md)
UNTOLD_MIX = 0.5


def as_frames(frames, name: str = "context", batched: bool = False) -> np.ndarray:
    """Validate and convert to `(T, 64, 64, 1)` (or `(B, T, 64, 64, 1)` if `batched`) float32 in [0, 1]."""
    want = "(B, T, 64, 64[, 1])" if batched else "(T, 64, 64[, 1])"
    arr = np.asarray(frames)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be a numeric array of shape {want}. Received: dtype={arr.dtype}")
    if arr.ndim == (5 if batched else 4) and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != (4 if batched else 3) or arr.shape[-2:] != (64, 64):
        raise ValueError(f"{name} must have shape {want}. Received: shape={arr.shape}")
    if arr.shape[-3] < 1 or (batched and arr.shape[0] < 1):
        raise ValueError(f"{name} needs at least one frame. Received: shape={arr.shape}")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    else:
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values.")
        if arr.min() < 0.0 or arr.max() > 1.0:
            raise ValueError(
                f"{name} must be uint8 in [0, 255] or float in [0, 1]. "
                f"Received: dtype={arr.dtype}, range [{arr.min():.3g}, {arr.max():.3g}]"
            )
    return arr[..., None]


def check_horizon(horizon) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be an integer in [1, {MAX_HORIZON}]. Received: horizon={horizon!r}")
    return int(horizon)


class Prepared:
    """One context made ready for a rollout by `Predictor.prepare`: `frames (T, 64, 64, 1)` float32 in [0, 1]; for a
    `StreamingPredictor`, also `parts (L, T, 64, 64, 1)` float32 in [0, 1] (what it rolls out one by one: digit
    layers and leftover ink, or L = 1 the whole frames), `speeds (L,)` float32 px/frame (NaN: not one digit) and
    `rules (L,)` int8 (the pixel rule a digit layer's context was drawn with, an index into `PIXEL_RULES`; -1:
    not told) and `drawn` (L,) each part's `predictor.rigid.RigidReading` where it is drawn along its tracks, else
    None. `len()` is T. Opaque to its users: only the predictor that made it (`owner`) reads it."""

    __slots__ = ("owner", "frames", "parts", "speeds", "rules", "drawn")

    def __init__(self, owner, frames, parts=None, speeds=None, rules=None, drawn=None):
        self.owner, self.frames, self.parts, self.speeds, self.rules = owner, frames, parts, speeds, rules
        self.drawn = drawn

    def __len__(self) -> int:
        return len(self.frames)


class Predictor:
    """Common interface. `info` is the model card: architecture, parameters, training, validation metrics."""

    kind = "base"

    def __init__(self, model, info: dict | None = None, source: str = ""):
        self.model, self.info, self.source = model, dict(info or {}), source

    def predict(self, context, horizon: int = 10) -> np.ndarray:
        """Free-running rollout: context `(T, 64, 64[, 1])` -> `(horizon, 64, 64) float32` in [0, 1]."""
        x, horizon = as_frames(context), check_horizon(horizon)
        return self.predict_prepared([self._prepare(x)], horizon)[0]

    def predict_batch(self, contexts, horizon: int = 10) -> np.ndarray:
        """Batched rollout: `(B, T, 64, 64[, 1])` -> `(B, horizon, 64, 64) float32` in [0, 1]."""
        x, horizon = as_frames(contexts, "contexts", batched=True), check_horizon(horizon)
        return self.predict_prepared([self._prepare(c) for c in x], horizon)

    def prepare(self, context) -> Prepared:
        """`context (T, 64, 64[, 1])` (uint8 in [0, 255] or float in [0, 1]) checked and converted as `predict` does
        it, with the work a rollout does on each context alone before the model runs (a `StreamingPredictor` with
        digit layers: the split and each layer's speed). Pure numpy, no model call: a server runs it in each
        request's own thread, outside the lock its model calls share, then `predict_prepared` under it. Raises
        `predict`'s ValueError for a bad context. The result is for this predictor only."""
        return self._prepare(as_frames(context))

    def predict_prepared(self, prepared, horizon: int = 10) -> np.ndarray:
        """The rollout of contexts `prepare`d by this predictor, all of one length T: a list of B >= 1 of them ->
        `(B, horizon, 64, 64) float32` in [0, 1], exactly `predict_batch` of those contexts (which runs this)."""
        prepared, horizon = list(prepared), check_horizon(horizon)
        if not prepared or any(not isinstance(p, Prepared) or p.owner is not self for p in prepared):
            raise ValueError("predict_prepared needs a non-empty list of this predictor's `prepare(context)` results. "
                             f"Received: {[type(p).__name__ for p in prepared]}")
        if len({len(p) for p in prepared}) > 1:
            raise ValueError("predict_prepared needs contexts of one length. Received lengths "
                             f"{[len(p) for p in prepared]}")
        return np.clip(self._rollout_prepared(prepared, horizon)[..., 0], 0.0, 1.0)

    def _prepare(self, x) -> Prepared:
        """`x (T, 64, 64, 1)` float32 in [0, 1], already checked -> its `Prepared` (here the frames alone)."""
        return Prepared(self, x)

    def _rollout_prepared(self, prepared, horizon: int) -> np.ndarray:
        """`prepared` (one length T) -> `(B, horizon, 64, 64, 1)` float32, not yet clipped."""
        return self._rollout(np.stack([p.frames for p in prepared]), horizon)

    def one_step(self, frames) -> np.ndarray:
        """Teacher-forced: true frames `(T, 64, 64[, 1])`, T >= 2 -> `(T-1, 64, 64)`, prediction of frames 1..T-1."""
        x = as_frames(frames, "frames")
        if len(x) < 2:
            raise ValueError(f"one_step needs at least 2 frames. Received: shape={np.shape(frames)}")
        return np.clip(self._one_step(x[None])[0, ..., 0], 0.0, 1.0)

    def describe(self) -> dict:
        return {"kind": self.kind, "source": self.source, **self.info}


def check_own_speeds(speeds, name: str = "own_speeds") -> tuple[float, float] | None:
    """`speeds`: None or empty (no speed rule) or (low, high) px/frame with 0 <= low <= high."""
    if speeds is None or len(speeds) == 0:
        return None
    try:
        low, high = (float(v) for v in speeds)
    except (TypeError, ValueError):
        low = high = float("nan")
    if not 0 <= low <= high:
        raise ValueError(f"{name} must be (low, high) px/frame with 0 <= low <= high, or None. "
                         f"Received: {name}={speeds!r}")
    return low, high


def check_expert_speeds(ranges) -> dict:
    """`ranges`: None or {expert name: (low, high) px/frame}, the digit layers' speeds each named expert may take."""
    if ranges is None:
        return {}
    if not isinstance(ranges, dict):
        raise ValueError(f"expert_speeds must map expert names to (low, high) px/frame. Received: {ranges!r}")
    return {str(k): check_own_speeds(v, f"expert_speeds[{k!r}]") for k, v in ranges.items()}


def check_expert_rules(rules) -> dict:
    """A card's `rollout.expert_rules` {expert name: pixel rule} (None: none) checked -> {str: str}."""
    if rules is None:
        return {}
    if not isinstance(rules, dict) or any(r not in PIXEL_RULES for r in rules.values()):
        raise ValueError(f"expert_rules must map expert names to a pixel rule, one of {PIXEL_RULES}. "
                         f"Received: {rules!r}")
    return {str(k): str(v) for k, v in rules.items()}


def check_layers(layers) -> int:
    """`layers` for `StreamingPredictor`: 0 (whole frames) or the most digit layers to split a context into."""
    if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)) or not 0 <= layers <= MAX_LAYERS:
        raise ValueError(f"layers must be an integer in [0, {MAX_LAYERS}] (0: roll out the whole frames). "
                         f"Received: layers={layers!r}")
    return int(layers)


class StreamingPredictor(Predictor):
    """For `StreamingConvLSTM`: carries the recurrent states, one model step per frame (O(T) rollout).

    `layers` (a rollout option, not part of the learned model): 0 rolls out the whole frames, as the model was
    trained; N > 0 first splits the context into up to N digit layers with a hand-written tracker
    (`predictor.separate`), rolls each out alone and combines them with `np.maximum`. Ink the layers leave
    unexplained is rolled out as one more layer (`predictor.separate.leftover`), so the split never erases it;
    contexts the split does not explain are rolled out whole. `None`: the model card's `rollout.layers` (or a
    legacy file's `digit_layers`), else 0.

    `experts`: more `StreamingConvLSTM`s (e.g. one trained on other speeds), or `predictor.rollout.CopyLast()`
    (hand-written: the last frame held, which only wins parts that stood still, and takes no digit layer read moving
    at `STILL` px/frame or more: `speed_rule`). Each part (a layer, or the whole frames)
    is rolled out by the model that predicts the part's own last `EVIDENCE` context frames best (one-step, against
    the true frames): the experts are asked only where `model`'s error there exceeds `CONSULT` (so contexts it
    follows cost nothing more), and win only where theirs is below `MARGIN` times the best so far (a near tie stays
    with `model`).

    `own_speeds` `(low, high)` px/frame (None: the card's `rollout.own_speeds`, else none; `()`: none): the speeds
    `model` was trained on, as `predictor.separate.track_speed` measures them on a digit layer's track (a layer read
    just outside them beside a clip-mate at them takes the mate's reading: `mate_speeds`). A digit
    layer moving at them is the model's without asking the experts (their evidence on a few frames is noisier than
    what training at that speed taught); one moving at other speeds goes to a network expert unless the model's
    evidence is better by `OFF_MARGIN` (copy-last keeps `MARGIN`). Whole frames and leftover ink: evidence alone.
    The card's `rollout.expert_speeds` {expert name: (low, high)} limits a network expert to digit layers moving at
    those speeds (one trained on fast digits wins a few frames of evidence on slow ones it then mispredicts), and
    gives it those below the model's own speeds without comparing its evidence with the model's (`OUTRIGHT`).
    The card's `rollout.expert_rules` {expert name: pixel rule} names a network trained on digits drawn with that
    rule (`predictor.moving_mnist.PIXEL_RULES`): where a context's tracks show the rule (`pixel_rule.context_rule`),
    its digit layers at the model's own speeds are that expert's instead of the model's; it is never asked by
    evidence (the rule shows at bounces, which a few frames of evidence rarely hold). Where no bounce tells the
    rule, such a layer is a mix of the model's rollout and the rule experts' (`UNTOLD_MIX`).

    `tracks` (a rollout option, hand-written like the split; None: the card's `rollout.tracks`, else False): with
    digit layers (`layers` > 0), each part that is one rigid sprite moving as the generator moves a digit (a digit
    layer, a lone digit: `predictor.rigid.read_rigid`) is drawn where its possible tracks put it, not rolled out by
    a network; the networks roll out the parts it does not read. `layers=0` is the networks alone, tracks or not.

    Rollouts run on each model's copy whose convolutions compute in `runtime.conv_dtype()` (`conv_dtype`: bfloat16
    where the CPU has it natively; `rollout_model`); `model` stays as loaded."""

    kind = "streaming"

    def __init__(self, model, info=None, source="", layers: int | None = None, experts=(), own_speeds=None,
                 tracks: bool | None = None):
        super().__init__(model, info, source)
        card = self.info.get("rollout") or {}
        if layers is None:
            layers = card.get("layers", getattr(model, "legacy_layers", 0))
        self.layers = check_layers(layers)
        self.tracks = check_tracks(card.get("tracks", False) if tracks is None else tracks)
        self.own_speeds = check_own_speeds(card.get("own_speeds") if own_speeds is None else own_speeds)
        # {expert name: (low, high)}: an expert trained on some speeds only takes digit layers moving at them
        self.expert_speeds = check_expert_speeds(card.get("expert_speeds"))
        self.expert_rules = check_expert_rules(card.get("expert_rules"))  # {expert name: the rule it was trained on}
        if tf is None or keras.backend.backend() != "tensorflow":
            raise RuntimeError("StreamingPredictor's rollout is a TensorFlow graph: it needs TensorFlow installed and "
                               f"KERAS_BACKEND=tensorflow. Received: backend={keras.backend.backend()!r}")
        from predictor.rollout import CopyLast, Rollout

        self.conv_dtype = runtime.conv_dtype()
        self.experts = list(experts)
        self.expert_names = [f"expert {k + 1}" for k in range(len(self.experts))]  # `load_predictor` names them
        self.rollouts = [m if isinstance(m, CopyLast) else Rollout(m, self.conv_dtype) for m in [model, *self.experts]]
        self.rollout_model = self.rollouts[0].model

    def _prepare(self, x) -> Prepared:
        """`x (T, 64, 64, 1)` -> its `Prepared` with the parts and speeds (`_parts_and_speeds`): with digit layers the
        split, ~7 ms of one core's CPU per 10-frame context (the default model), which a server does before (and so
        outside) the lock its model calls share."""
        parts, speeds, rules = self._parts_speeds_rules(x)
        return Prepared(self, x, parts, speeds, rules, self._drawn(parts))

    def _drawn(self, parts) -> list:
        """`parts (L, T, 64, 64, 1)` -> (L,) each part's `RigidReading` where `tracks` draws it, else None; the parts
        share their evidence of the pixel rule (`share_rule`: selection, standard 25.1 / 23.8 -> 23.2 / 21.8) and their
        speeds (`share_speed`: 2 px/frame 25.1 / 27.2 -> 21.9 / 24.9)."""
        if not (self.tracks and self.layers):
            return [None] * len(parts)
        return share_speed(share_rule([read_rigid(part[..., 0], any_offset=len(parts) == 1) for part in parts]))

    def _rollout_prepared(self, prepared, horizon):
        x = np.stack([p.frames for p in prepared])
        parts, speeds = [p.parts for p in prepared], [p.speeds for p in prepared]
        drawn = [d for p in prepared for d in p.drawn]
        if all(d is None for d in drawn) and all(len(p) == 1 and np.isnan(s[0]) for p, s in zip(parts, speeds)):
            return self._rollout_whole(x, horizon)  # whole frames only (not one digit), none drawn
        # One batch: every split context's layers (a lone digit's too) and the whole frames of the others, but for
        # the parts drawn along their tracks.
        rolled = np.empty((len(drawn), horizon, 64, 64, 1), np.float32)
        net = np.flatnonzero([d is None for d in drawn])
        if len(net):
            rolled[net] = self._rollout_whole(np.concatenate(parts)[net], horizon, np.concatenate(speeds)[net],
                                              np.concatenate([p.rules for p in prepared])[net])
        for k in np.flatnonzero([d is not None for d in drawn]):
            rolled[k, ..., 0] = drawn[k].frames(horizon)
        ends = np.cumsum([len(p) for p in parts])
        return np.stack([rolled[end - len(p) : end].max(axis=0) for p, end in zip(parts, ends)])

    def _rollout_whole(self, x, horizon, speeds=None, rules=None):
        """`x (B, T, 64, 64, 1)`, each row rolled out whole by the model `_start` picks for it (`speeds (B,)`,
        `rules (B,)`: see `_start`); the models' rollouts at once where they fit the two cores (`_run_calls`), e.g.
        one row the model's and one an expert's. Rows that are one model's whatever their evidence says (all of them
        the model's without experts or with one frame; else digit layers at its own speeds: the model's, or a rule
        expert's, `_owners`) are read and rolled out in one graph call per model (`Rollout.roll`: the same frames,
        without the head on the evidence frames), beside the others' routing. Digit layers at the model's own speeds
        whose context no bounce tells the rule (`untold`) are a mix of the model's rollout and the rule experts'."""
        return self._mix_untold(x, self._rollout_routed(x, horizon, speeds, rules), speeds, rules)

    def _mix_untold(self, x, rolled, speeds=None, rules=None) -> np.ndarray:
        """`rolled (B, H, 64, 64, 1)`, the model's rollouts of `x (B, T, 64, 64, 1)`, where a row is a digit layer at
        the model's own speeds (`speeds`) whose rule the context does not tell (`rules` -1) and a rule expert exists:
        mixed with the rule experts' rollouts (`UNTOLD_MIX`). Without a bounce the two rules draw the same track half
        a pixel apart, after the next bounce a pixel apart: no context tells them apart until then."""
        if rules is None or not self.rule_experts():
            return rolled
        untold = self._speed_rule(len(x), speeds)[0] & (np.asarray(rules) == -1)
        if untold.any():
            horizon = rolled.shape[1]
            mixed = np.mean([self.rollouts[k].roll(x[untold], horizon).numpy() for k in self.rule_experts()], axis=0)
            rolled[untold] = (1 - UNTOLD_MIX) * rolled[untold] + UNTOLD_MIX * mixed
        return rolled

    def _rollout_routed(self, x, horizon, speeds=None, rules=None):
        """`_rollout_whole` before the untold rule's mix."""
        if not self.experts or x.shape[1] < 2:
            return self.rollouts[0].roll(x, horizon).numpy()
        owner = self._owners(self._speed_rule(len(x), speeds)[0], rules)
        if (owner == 0).all():
            return self.rollouts[0].roll(x, horizon).numpy()
        scored = np.flatnonzero(owner < 0)
        if len(scored) == len(x):
            return self._rollout_scored(x, horizon, speeds)
        speeds = np.full(len(x), np.nan, np.float32) if speeds is None else np.asarray(speeds)
        # (rows, their call): the routed rows first, in this thread, so that their own concurrent calls have the
        # pool's other threads; then one roll-out call per model that owns rows.
        jobs = [(scored, lambda: self._rollout_scored(x[scored], horizon, speeds[scored]))] if len(scored) else []
        jobs += [(rows, lambda k=k, rows=rows: self.rollouts[k].roll(x[rows], horizon).numpy())
                 for k in np.unique(owner[owner >= 0]) for rows in [np.flatnonzero(owner == k)]]
        rolled = _run_calls([call for _, call in jobs], [min(len(rows), 2) for rows, _ in jobs])
        out = np.empty((len(x), horizon, 64, 64, 1), np.float32)
        for (rows, _), frames in zip(jobs, rolled):
            out[rows] = frames
        return out

    def _owners(self, own, rules=None) -> np.ndarray:
        """`(B,)` int: which model rolls out each row without evidence: 0 the model (a row at its own speeds,
        `own (B,)`), k the rule expert k - 1 where the row's rule (`rules (B,)`, index into `PIXEL_RULES`, -1 none;
        None: no row's) is its rule (`rollout.expert_rules`), -1 the evidence decides."""
        owner = np.where(own, 0, -1)
        if rules is not None:
            for k, rule in self.rule_experts().items():
                owner[own & (np.asarray(rules) == PIXEL_RULES.index(rule))] = k
        return owner

    def rule_experts(self) -> dict:
        """{model index k (expert k - 1): the pixel rule it takes} for the experts the card's `rollout.expert_rules`
        names (`_owners`); they are only rolled out (`Rollout.roll`), never read for evidence."""
        return {k: self.expert_rules[n] for k, n in enumerate(self.expert_names, 1) if n in self.expert_rules}

    def _rollout_scored(self, x, horizon, speeds=None):
        """`_rollout_whole` of rows `x` that the model's evidence routes (`_start`; none at the model's own speeds)."""
        runs, chosen = self._start(x, speeds)
        if not chosen.any():  # every row the model's: no gather
            return self.rollouts[0].go_on(runs[0][1], runs[0][2], horizon).numpy()
        groups = [(k, np.flatnonzero(chosen == k)) for k in np.unique(chosen)]
        rolled = _run_calls([lambda k=k, won=won: _go_on_rows(self.rollouts[k], runs[k], won, horizon)
                             for k, won in groups], [self._loops(k, len(won)) for k, won in groups])
        out = np.empty((len(x), horizon, 64, 64, 1), np.float32)
        for (_, won), frames in zip(groups, rolled):
            out[won] = frames
        return out

    def _start(self, x, speeds=None, rules=None):
        """Every model's `Rollout.start` on the rows of `x (B, T, ...)` it is asked about, and which model rolls out
        each row: ({model index: (the rows it read, ascending; first predictions; states)}, chosen `(B,)` index).
        `speeds (B,)`: each row's digit speed in px/frame (NaN: not one digit; None: no row is), for `own_speeds`;
        `rules (B,)`: each row's pixel rule (`_owners`). An expert's first predictions and states are of use only for
        the rows it won (it stops reading a row it cannot win); a row at the model's own speeds that a rule expert
        takes is chosen for it unread (`_rollout_whole` rolls such rows out apart)."""
        first, states, error = self.rollouts[0].start(x, self._evidence())
        runs, error = {0: (np.arange(len(x)), first, states)}, error.numpy()
        own, margin = self._speed_rule(len(x), speeds)
        chosen = np.maximum(self._owners(own, rules), 0)
        ask = self._asked(x, error, own)
        if len(ask):
            # An expert reads the asked rows if it may take any of them (margin > 0: in its speed range).
            loops = [self._loops(k, int((margin[ask, k] > 0).any()) * len(ask)) for k in range(1, len(self.rollouts))]
            reads = _run_calls(self._expert_reads(x, ask, error, margin[ask]), loops)
            # An expert's error on a row it stopped reading is at least its `beat`: `choose` rejects it all the same.
            chosen[ask] = choose(np.stack([error[ask]] + [e.numpy() for _, _, e in reads], 1), CONSULT, margin[ask])
            runs.update({k: (ask, first, states) for k, (first, states, _) in enumerate(reads, 1)})
        return runs, chosen

    def _loops(self, k: int, rows: int) -> int:
        """How many loops model `k` runs side by side on `rows` rows (`predictor.rollout`: two halves from two
        rows on; `CopyLast` none, it only copies)."""
        return 0 if self.rollouts[k].model is None else min(rows, 2)

    def _evidence(self) -> int:
        return EVIDENCE if self.experts else 0

    def _speed_rule(self, rows: int, speeds=None):
        """`speed_rule` for `rows` parts with `speeds (rows,)` (None: no part is one digit) and this predictor's
        models."""
        speeds = np.full(rows, np.nan, np.float32) if speeds is None else speeds
        ranges = [None] + [self.expert_speeds.get(n) for n in self.expert_names]
        own, margin = speed_rule(speeds, self.own_speeds, [r.model is not None for r in self.rollouts], ranges=ranges)
        margin[:, list(self.rule_experts())] = 0  # a rule expert takes its rule's rows by `_owners`, never by evidence
        return own, margin

    def _asked(self, x, error, own=None) -> np.ndarray:
        """The rows of `x` whose model `error (B,)` asks for the experts (ascending; none without experts or
        evidence, nor where `own (B,)`: a digit layer at the model's own speeds; see `asked`)."""
        if not self.experts or x.shape[1] < 2:
            return np.zeros(0, int)
        return np.flatnonzero(asked(error, own))

    def _expert_reads(self, x, ask, best, margin=None) -> list:
        """One call per expert: its `start` on the rows `ask` of `x`, told to stop reading a row once it cannot win
        it even against the model (its margin (`margin (A, experts + 1)`, default `MARGIN`) times the model's error
        `best (B,)`; a later expert must beat an earlier winner, whose error is lower, so that is a bound for every
        expert). The limit is rounded up to float32, so that a row stopped early is one `choose` rejects anyway.

        Where the last expert is `CopyLast` (reading costs nothing), it is read here first, and the expert before it
        also stops where copying would beat it anyway: its error could then only matter if it won, and copying
        would then win after it (e.g. still parts: no network reads them to the end). Only that expert: one before
        it that won would decide which later expert must beat what. An expert whose margin is 0 on every row (none
        in its speed range, `speed_rule`) is not read: its call gives an infinite error, which never wins."""
        from predictor.rollout import CopyLast

        context, evidence = x[ask], self._evidence()
        margin = np.full((len(ask), len(self.rollouts)), MARGIN, np.float32) if margin is None else margin
        beat = [_above(margin[:, k] * best[ask]) for k in range(1, len(self.rollouts))]
        cheap = None
        if len(self.experts) >= 2 and isinstance(self.rollouts[-1], CopyLast):
            cheap = self.rollouts[-1].start(context, evidence)
            takes = margin[:, -1] > 0  # copying only bounds the expert before it where it may win
            beat[-2][takes] = np.minimum(beat[-2][takes], _beaten_by(cheap[2].numpy()[takes], margin[takes, -1]))
        # An expert that may take none of these rows (a margin of 0: all outside its speed range) is not read.
        never = lambda: (None, None, tf.constant(np.full(len(ask), np.inf, np.float32)))  # noqa: E731
        calls = [(lambda r=r, b=b: r.start(context, evidence, b)) if (margin[:, k] > 0).any() else never
                 for k, (r, b) in enumerate(zip(self.rollouts[1:], beat), 1)]
        return calls[:-1] + [lambda: cheap] if cheap is not None else calls

    def describe(self) -> dict:
        """The model card, with the rollout options this predictor uses (which may differ from the card's)."""
        info = super().describe()
        rollout = {k: v for k, v in (info.get("rollout") or {}).items()
                   if k not in ("own_speeds", "expert_speeds", "expert_rules")}
        ranges = {n: list(self.expert_speeds[n]) for n in self.expert_names if n in self.expert_speeds}
        rules = {n: self.expert_rules[n] for n in self.expert_names if n in self.expert_rules}
        rollout.update(layers=self.layers, tracks=self.tracks, experts=list(self.expert_names),
                       **({"own_speeds": list(self.own_speeds)} if self.own_speeds else {}),
                       **({"expert_speeds": ranges} if ranges else {}), **({"expert_rules": rules} if rules else {}))
        return {**info, "rollout": rollout}

    def chosen_models(self, context) -> list[int]:
        """Which model rolls out each part of `context (T, 64, 64[, 1])` (the parts of `rollout_layers`): 0 the
        predictor's model, k its expert k - 1, -1 none (drawn along its tracks: `tracks`)."""
        parts, speeds, rules = self._parts_speeds_rules(as_frames(context))
        return [int(k) for k in self._chosen(parts, speeds, rules, self._drawn(parts))]

    def _chosen(self, parts, speeds, rules, drawn) -> np.ndarray:
        """`(L,)` int: the model that rolls out each of `parts` (`_start`: the experts asked about the parts not
        `drawn` only), -1 where it is drawn along its tracks."""
        chosen = np.full(len(parts), -1)
        net = np.flatnonzero([d is None for d in drawn])
        if len(net):
            chosen[net] = self._start(parts[net], speeds[net], rules[net])[1] if self.experts else 0
        return chosen

    def split(self, context):
        """This predictor's split of `context (T, 64, 64[, 1])` into digit layers (`predictor.separate.SplitDigits`),
        or None where it rolls out the whole frames with no digit speed (`layers=0`, one frame, or a split that is
        neither usable nor one digit alone)."""
        return self._split(as_frames(context))

    def rollout_layers(self, context) -> np.ndarray:
        """What a rollout of `context (T, 64, 64[, 1])` rolls out one by one: `(L, T, 64, 64) float32 in [0, 1]`,
        the digit layers and, where they leave ink unexplained, that ink as one more layer; `L = 1`: the whole
        frames (of one digit alone, or not split: `split` is None)."""
        return self._parts(as_frames(context))[..., 0]

    def _split(self, x):
        """`split_digits` of `x (T, 64, 64, 1)` where usable, or where it is one digit and nothing else (one layer
        that leaves no ink over: `leftover`); else None."""
        split = split_digits(x[..., 0], self.layers) if self.layers and len(x) >= 2 else None
        if split is None or not (split.usable or len(split.layers) == 1 and leftover(x[..., 0], split.layers) is None):
            return None
        return split

    def _parts(self, x):
        """`x (T, 64, 64, 1)` -> `(L, T, 64, 64, 1)`: the layers to roll out one by one (see `rollout_layers`)."""
        return self._parts_and_speeds(x)[0]

    def _parts_and_speeds(self, x):
        """`_parts(x)` and `(L,)` float32 each part's digit speed in px/frame (`track_speed`; NaN where a part is
        not one digit: the whole frames, the leftover ink)."""
        return self._parts_speeds_rules(x)[:2]

    def _parts_speeds_rules(self, x):
        """`_parts_and_speeds(x)` and `(L,)` int8 each part's pixel rule, an index into `PIXEL_RULES` (-1: not a
        digit layer, no rule expert, or the context's tracks do not tell: `pixel_rule.context_rule`)."""
        split = self._split(x)
        if split is None:
            return x[None], np.full(1, np.nan, np.float32), np.full(1, -1, np.int8)
        speeds = list(mate_speeds([track_speed(t) for t in split.tracks], self.own_speeds))
        rule = context_rule(split.tracks) if self.rule_experts() else None
        rules = [-1 if rule is None else PIXEL_RULES.index(rule)] * len(speeds)
        if len(split.layers) == 1:  # a lone digit: its whole frames (its layer may miss a little ink), with its speed
            return x[None], np.asarray(speeds, np.float32), np.asarray(rules, np.int8)
        rest = leftover(x[..., 0], split.layers)
        layers = split.layers if rest is None else np.concatenate([split.layers, rest[None]])
        rules += [-1] * (rest is not None)
        return (layers[..., None], np.asarray(speeds + [np.nan] * (rest is not None), np.float32),
                np.asarray(rules, np.int8))

    def explain(self, context, horizon: int) -> dict:
        """A free-running rollout with what the head decided at every predicted frame.

        Returns {"inputs": `(H, 64, 64)` the frame each prediction moved pixels of (the last context frame,
        then its own predictions), "frames": `(H, 64, 64)` the predictions in [0, 1] (as `predict`),
        "motion": `(H, h, w, n, 2)` expected (dy, dx) motion of each patch's content per hypothesis (px),
        "sureness": `(H, h, w, n)` the largest displacement probability (1/window**2 = no idea, 1 = certain),
        "choice": `(H, 64, 64, n + 1)` per pixel the weight of each moved copy and of the generated image,
        "layers": how many digit layers were rolled out (1: the whole frames), "drawn": how many of them were drawn
        along their tracks (`tracks`; their head arrays: `_explain_drawn`)}. With digit layers each layer is
        explained alone and combined as the prediction combines them: every pixel shows the layer that gives its
        value, every patch the layer with the most ink there.
        """
        x, horizon = as_frames(context), check_horizon(horizon)
        layers, speeds, rules = self._parts_speeds_rules(x)
        drawn = self._drawn(layers)
        chosen = self._chosen(layers, speeds, rules, drawn)
        parts = [self._explain(layer, horizon, k) if d is None else self._explain_drawn(d, layer[-1, ..., 0], horizon)
                 for layer, k, d in zip(layers, chosen, drawn)]
        told = np.where([d is not None for d in drawn], 0, rules)  # a drawn part is never mixed (`_rollout_prepared`)
        frames = self._mix_untold(layers, np.stack([p["frames"] for p in parts])[..., None], speeds, told)[..., 0]
        if len(layers) == 1:
            return {**parts[0], "frames": frames[0], "layers": 1, "drawn": int(drawn[0] is not None)}
        pixel = frames.argmax(0)  # the layer each pixel's value comes from
        patch = self.model.config.patch
        h, w = 64 // patch, 64 // patch
        ink = frames.reshape(len(parts), horizon, h, patch, w, patch).sum((3, 5)).argmax(0)  # (H, h, w)
        pick = lambda key, owner: _per_owner(np.stack([p[key] for p in parts]), owner)  # noqa: E731
        return {"inputs": np.max([p["inputs"] for p in parts], axis=0), "frames": frames.max(0),
                "motion": pick("motion", ink), "sureness": pick("sureness", ink), "choice": pick("choice", pixel),
                "layers": len(parts), "drawn": sum(d is not None for d in drawn)}

    def _explain(self, x, horizon: int, k: int = 0) -> dict:
        """`explain`'s arrays for one context `x (T, 64, 64, 1)` rolled out whole by model `k` (0: `model`), from
        its `Rollout.explain` (the rollout loop that predictions run, asked for the head's kernels and choice)."""
        from predictor.layers import displacement_offsets

        rollout = self.rollouts[k]
        if rollout.model is None:  # `CopyLast`: every patch sure of no motion, every pixel the first hypothesis's copy
            return self._explain_still(x[-1, ..., 0], horizon)
        why = {key: np.asarray(v[0]) for key, v in rollout.explain(x[None], horizon).items()}
        kernels = why.pop("kernels")  # (H, h, w, n, window**2)
        offsets = -displacement_offsets(rollout.model.config.window).astype(np.float32)  # content moves by -offset
        return {"inputs": why["inputs"][..., 0], "frames": why["frames"][..., 0],
                "motion": np.einsum("...k,kd->...d", kernels, offsets), "sureness": kernels.max(-1),
                "choice": why["choice"]}

    def _explain_still(self, last, horizon: int) -> dict:
        """`explain`'s arrays for a part held still: `last (64, 64)` repeated, in the model's shapes."""
        c = self.model.config
        h, n = 64 // c.patch, c.hypotheses
        choice = np.zeros((horizon, 64, 64, n + 1), np.float32)
        choice[..., 0] = 1
        return {"inputs": np.repeat(last[None], horizon, 0), "frames": np.repeat(last[None], horizon, 0),
                "motion": np.zeros((horizon, h, h, n, 2), np.float32), "sureness": np.ones((horizon, h, h, n),
                                                                                            np.float32),
                "choice": choice}

    def _explain_drawn(self, reading, last, horizon: int) -> dict:
        """`explain`'s arrays for a part drawn along its tracks (`reading`, from `last (64, 64)`): every patch moves by
        the expected step, as sure as the most likely position is, and every pixel is drawn (no moved copy)."""
        held = self._explain_still(last, horizon)
        at = reading.positions(horizon)
        frames = reading.draw(at)
        held["choice"][..., 0], held["choice"][..., -1] = 0, 1
        held["motion"][...] = reading.mean_steps(at)[:, None, None, None, :]
        held["sureness"][...] = reading.sureness(at)[:, None, None, None]
        return {**held, "inputs": np.concatenate([last[None], frames[:-1]]), "frames": frames}

    def _one_step(self, x):
        return self.rollouts[0].one_step(x).numpy()


def check_tracks(tracks) -> bool:
    """`tracks` as a bool (True, False, 1 or 0); ValueError otherwise."""
    if tracks not in (True, False) or isinstance(tracks, float):
        raise ValueError(f"tracks must be True or False. Received: {tracks!r}")
    return bool(tracks)


def speed_rule(speeds, own_speeds, networks, off_margin: float = OFF_MARGIN, margin: float = MARGIN, ranges=None):
    """Which parts are the model's by their speed, and the margin each expert must beat the best by on each part.

    `speeds (P,)` px/frame of each part (NaN: not one digit); `own_speeds` (low, high) or None; `networks (K,)`
    bool, model k is a network (column 0 the predictor's model); `ranges (K,)`: per model None or the (low, high)
    px/frame of the digit layers it may take (a network expert trained on fast digits only; None: any). Returns (own `(P,)`
    bool: at the model's own speeds; margin `(P, K)` float32: 0 for a limited expert on a digit layer outside its
    range or on a part that is not one digit (it cannot win: it never saw such parts) and for copy-last (not a
    network) on a digit layer read at `STILL` px/frame or faster, `OUTRIGHT` for a limited expert on a layer
    in its range below the own speeds, else `off_margin` for a network expert on a part off the own speeds, else
    `margin`)."""
    speeds = np.asarray(speeds, np.float32)
    margin = np.full((len(speeds), len(networks)), margin, np.float32)
    for k, r in enumerate(ranges or ()):
        if k and r is not None and networks[k]:  # NaN (not one digit: whole frames, leftover ink) is outside too
            margin[(speeds < r[0]) | (speeds > r[1]) | np.isnan(speeds), k] = 0
    margin[np.ix_(speeds >= STILL, [k for k, net in enumerate(networks) if k and not net])] = 0  # copy-last
    if not own_speeds:
        return np.zeros(len(speeds), bool), margin
    low, high = own_speeds
    off = (speeds < low) | (speeds > high)  # NaN is neither own nor off
    nets = [k for k, net in enumerate(networks) if k and net]
    margin[np.ix_(off, nets)] = np.where(margin[np.ix_(off, nets)] > 0, off_margin, 0)
    for k, r in enumerate(ranges or ()):
        if k in nets and r is not None:
            margin[(speeds < low) & (speeds >= r[0]) & (speeds <= r[1]), k] = OUTRIGHT
    return (speeds >= low) & (speeds <= high), margin


def mate_speeds(speeds, own_speeds, band=MATE_BAND) -> np.ndarray:
    """One context's digit layers' speeds `(L,)` px/frame (`track_speed`), each read just outside the own speeds
    `(low, high)` (None: none), by up to `band` (below, above) px/frame, taken as its nearest clip-mate's at them,
    where it has one. -> `(L,)` float32.

    One clip's digits mostly share a speed (the generator draws one for all), and a layer's track reads slow where
    the split cut its digit or it bounced (more rarely fast): such a layer of a standard clip went to an expert (one
    sequence 159.5 -> 167.7) where an own speed of 3.2 kept it. A layer alone near the own speeds is another speed
    (a visitor's video, 0-4 px/frame per digit): from 3.2 to 3.35 px/frame the model's rollout is far worse than an
    expert's (one sequence 89.6 against 42.3), and at 3.8 px/frame an expert's is better by 4 (selection seeds)."""
    speeds = np.asarray(speeds, np.float32)
    if not own_speeds:
        return speeds
    low, high = own_speeds
    mates = speeds[(speeds >= low) & (speeds <= high)]
    slow = (speeds < low) & (speeds >= low - band[0])
    fast = (speeds > high) & (speeds <= high + band[1])
    if not len(mates) or not (slow | fast).any():
        return speeds
    return np.where(slow, mates.min(), np.where(fast, mates.max(), speeds)).astype(np.float32)


def asked(error, own=None, consult: float = CONSULT) -> np.ndarray:
    """Which parts ask the experts: `error (P,)` the model's error on each part's evidence above `consult`, and the
    part not at the model's own speeds (`own (P,)` bool; None: no part is). -> `(P,)` bool."""
    return (np.asarray(error) > consult) & (True if own is None else ~np.asarray(own, bool))


def choose(errors, consult: float = CONSULT, margin=MARGIN, own=None) -> np.ndarray:
    """The routing rule: which model rolls out each part, from `errors (P, K)`, each model's error on each part's
    evidence (`Rollout.start`: >= 0, 0 = exact), column 0 the predictor's model and 1..K-1 its experts in order.

    Returns `(P,)` int in [0, K): the model (0) where its error is at most `consult`; elsewhere the experts are
    compared in order, each winning where its error is below `margin` times the best error so far (the model's,
    or an earlier winner's), so a tie, or a near tie within `margin`, stays with the earlier model. `margin`: one
    number, or one per part and model (broadcast to `(P, K)`; column k for model k). Compared in the dtype of
    `errors` (float32 as the predictor's, with float32 margins). `own (P,)` bool: parts the model keeps unasked."""
    errors = np.asarray(errors)
    if errors.ndim != 2 or errors.shape[1] < 1 or not np.issubdtype(errors.dtype, np.floating):
        raise ValueError(f"errors must be a float array of shape (parts, models >= 1). Received: dtype={errors.dtype}, "
                         f"shape={errors.shape}")
    chosen, best = np.zeros(len(errors), int), errors[:, 0].copy()
    ask = asked(best, own, consult)
    margin = np.broadcast_to(np.asarray(margin, errors.dtype), errors.shape) if np.ndim(margin) else \
        np.full((1, errors.shape[1]), margin, errors.dtype)
    for k in range(1, errors.shape[1]):
        won = ask & (errors[:, k] < margin[:, k] * best)
        best[won], chosen[won] = errors[won, k], k
    return chosen


NORMAL = np.finfo(np.float32).tiny  # the least normal float32: TensorFlow's CPU ops flush smaller ones to 0


def _above(limit) -> np.ndarray:
    """`limit` as float32, rounded up: an error at least this is at least `limit` however `limit` was rounded. At
    least `NORMAL`: a graph compares a smaller limit as 0 (a higher limit only stops a row later)."""
    return np.maximum(np.nextafter(np.float32(limit), np.float32(np.inf)), NORMAL).astype(np.float32)


def _beaten_by(error, margin=MARGIN) -> np.ndarray:
    """`(B,)` float32: an error v from which on a part that won with v is beaten by a later candidate with `error (B,)`
    as `choose` decides it: `error < margin * v` in float32 for every v at least this (`margin`: one, or `(B,)`)."""
    error, margin = np.asarray(error, np.float32), np.asarray(margin, np.float32)
    v = (error / margin).astype(np.float32)
    while (low := ~(error < margin * v)).any():  # a step of one float32 at a time: rounding leaves it a step short
        v = np.where(low, np.nextafter(v, np.float32(np.inf)), v).astype(np.float32)
    return np.maximum(v, NORMAL).astype(np.float32)  # as `_above`


def _run_calls(calls, loops) -> list:
    """`[call() for call in calls]`, at once (`runtime.concurrently`) where the loops they run side by side
    (`loops`, one count per call) are at most two, one per core. More at once would not help: TensorFlow's
    inter-op threads keep on with the loop they run, so a third waits all the same (the default's rollout of two
    rows while an expert read one: 21.8 ms at once, 13.2 + 6.7 one after the other; the model's rollout of one row
    beside an expert's read of another: 13.5, against 12.6 + 6.7; measured at real-time priority on a busy
    machine)."""
    return runtime.concurrently(*calls) if sum(loops) <= 2 else [call() for call in calls]


def _go_on_rows(rollout, run, rows, horizon: int) -> np.ndarray:
    """`rollout.go_on` of `rows` (ascending) out of `run` = (the rows it read, ascending; their first predictions;
    their states) -> `(len(rows), horizon, 64, 64, 1)` float32."""
    ran, first, states = run
    if len(rows) < len(ran):  # only these rows, out of the rows it read
        at = np.searchsorted(ran, rows)
        pick = lambda a: tf.gather(a, at)  # noqa: E731
        first, states = pick(first), tf.nest.map_structure(pick, states)
    return rollout.go_on(first, states, horizon).numpy()


def _per_owner(stacked: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """`stacked (L, *owner.shape, ...)` -> `(*owner.shape, ...)`: at every position, the entry of layer `owner`."""
    index = owner.reshape(1, *owner.shape, *[1] * (stacked.ndim - owner.ndim - 1))
    return np.take_along_axis(stacked, index, axis=0)[0]


class SeedPredictor(Predictor):
    """For the Keras example's model: its head looks one frame ahead, so every new frame re-runs the
    whole growing sequence, exactly as the example does (O(T^2) rollout)."""

    kind = "seed"

    def _rollout(self, x, horizon):
        frames = x
        for _ in range(horizon):
            nxt = self.model.predict(frames, verbose=0)[:, -1:]
            frames = np.concatenate([frames, nxt], axis=1)
        return frames[:, x.shape[1] :]

    def _one_step(self, x):
        if self.model.name == "seed_causal":  # output t depends on frames <= t only: one pass is honest
            return self.model.predict(x[:, :-1], verbose=0)
        # The original head looks at frame t+1 when it outputs t, so only the last output of a prefix is an
        # honest prediction; there the head sees features t-1, t and zero padding. The ConvLSTM stack below it
        # is causal, so one pass gives every prefix's features, and the head runs once per 3-frame window.
        return self.one_step_by_prefixes(x) if x.shape[1] <= 2 else self._one_step_windows(x)

    def one_step_by_prefixes(self, x):
        """The example's way, one `predict` per prefix: `(B, T, 64, 64, 1)` -> `(B, T-1, 64, 64, 1)`."""
        return np.concatenate([self.model.predict(x[:, :t], verbose=0)[:, -1:] for t in range(1, x.shape[1])], axis=1)

    def _one_step_windows(self, x):
        stack = keras.Model(self.model.inputs, self.model.layers[-2].output)
        feats = stack.predict(x[:, :-1], verbose=0)  # (B, T-1, 64, 64, F) features of frames 0..T-2
        previous = np.concatenate([np.zeros_like(feats[:, :1]), feats[:, :-1]], axis=1)
        windows = np.stack([previous, feats, np.zeros_like(feats)], axis=2)  # (B, T-1, 3, 64, 64, F)
        b, t = windows.shape[:2]
        out = self.model.layers[-1](windows.reshape(b * t, *windows.shape[2:]))[:, 1]  # the middle of each window
        return np.asarray(out).reshape(b, t, *out.shape[1:])


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
