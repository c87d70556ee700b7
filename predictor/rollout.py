"""The streaming rollout loop, once: read the context, score the model on its last frames, then roll out.

    r = Rollout(model, "bfloat16")            # a StreamingConvLSTM; its rollout copy computes in that dtype
    first, states, error = r.start(context, evidence=4)   # context (B, T, 64, 64, 1) float32 in [0, 1]
    first, states, error = r.start(context, 4, beat=limit) # stop reading a row once its error reaches limit
    frames = r.go_on(first, states, horizon=10)            # (B, 10, 64, 64, 1), the first one being `first`
    frames = r.roll(context, horizon=10)                   # the same as start (no evidence) + go_on, one call
    why = r.explain(context, horizon=10)                   # the same rollout, with what the head decided per frame

`start` reads the context frames without the head, except the last `evidence` of them before the final one, whose
one-step predictions are scored against the true next frames: `error (B,)` is the squared error over those frames
divided by their squared ink (0: predicted exactly; 1: as far off as empty frames), which tells how well this model
follows this context's motion. With `beat` (an expert asked whether it predicts a part better than the model),
a row's scoring stops once its error can no longer stay below `beat`: the rest of its context and its first
prediction are not computed, since they would not be used. `go_on` feeds the model its own predictions, and
`explain` runs that same loop (`_free_run`) from the context, asking each step for the head's kernels and choice.
Batches of two or more run as two independent halves, whose ops TensorFlow runs side by side (with
`runtime.use_rollout_threads`, one core each).
"""

from __future__ import annotations

import tensorflow as tf


class Rollout:
    """Compiled rollout graphs for one `StreamingConvLSTM` (`model`), run on its copy whose convolutions compute in
    `conv_dtype` ("float32" or "bfloat16", `StreamingConvLSTM.for_rollouts`)."""

    def __init__(self, model, conv_dtype: str):
        self.model = model.for_rollouts(conv_dtype)
        m = self.model
        frames, frame = tf.TensorSpec([None, None, 64, 64, 1], tf.float32), tf.TensorSpec([None, 64, 64, 1], tf.float32)
        scalar, rows = tf.TensorSpec([], tf.int32), tf.TensorSpec([None], tf.float32)
        states = tf.nest.map_structure(lambda s: tf.TensorSpec([None, *s.shape[1:]], s.dtype), m.initial_state(1))
        # Per graph: (a batch of one, a batch run as two halves).
        self._start = [tf.function(g, input_signature=[frames, scalar])
                       for g in (self._start_graph, _halves(self._start_graph, 1))]
        self._start_until = [tf.function(g, input_signature=[frames, rows, scalar])  # traced only if ever called
                             for g in (self._start_until_graph, _halves(self._start_until_graph, 2))]
        self._go_on = [tf.function(g, input_signature=[frame, states, scalar])
                       for g in (self._go_on_graph, _halves(self._go_on_graph, 2))]
        self._roll = [tf.function(g, input_signature=[frames, scalar])
                      for g in (self._roll_graph, _halves(self._roll_graph, 1))]
        self._one_step = tf.function(self._one_step_graph, input_signature=[frames])
        self._explain = tf.function(self._explain_graph, input_signature=[frames, scalar])  # traced only if called

    def start(self, context, evidence: int = 0, beat=None):
        """`context (B, T, 64, 64, 1)` float32 -> (the prediction of frame T `(B, 64, 64, 1)`, the states after it,
        error `(B,)` of the one-step predictions of the last `evidence` context frames (0 where evidence is 0)).

        `beat (B,)` float32 (None: +inf, read everything): the error each row must stay below to be of use. Once
        every row of a loop (a batch of one, or a half) has an error of at least its `beat`, scoring stops (a step
        later: `_start_until_graph`): its errors are then lower bounds (still >= `beat`), and its predictions and
        states are not to be used. Errors only grow frame by frame (sums of squares, rounded monotonically), so a row
        whose error is below its `beat` was read to the end, exactly as without `beat`."""
        evidence = tf.constant(max(0, min(int(evidence), int(context.shape[1]) - 1)), tf.int32)
        context, halves = tf.constant(context, tf.float32), len(context) > 1
        if beat is None:  # its own graph: the checks would cost a loop on one row ~0.4 ms (see _start_until_graph)
            return self._start[halves](context, evidence)
        return self._start_until[halves](context, tf.constant(beat, tf.float32), evidence)

    def go_on(self, first, states, horizon: int) -> tf.Tensor:
        """`first (B, 64, 64, 1)` and the states after it -> `(B, horizon, 64, 64, 1)`: `first`, then the model's
        own predictions."""
        return self._go_on[int(first.shape[0]) > 1](first, states, tf.constant(horizon, tf.int32))

    def roll(self, context, horizon: int) -> tf.Tensor:
        """`context (B, T, 64, 64, 1)` float32 -> `(B, horizon, 64, 64, 1)`: `go_on` after `start` without evidence
        (the same frames, bit for bit), in one graph call: for parts nobody scores (no experts, or parts at the
        model's own speeds), whose evidence would only cost the head on those frames."""
        context = tf.constant(context, tf.float32)
        return self._roll[len(context) > 1](context, tf.constant(horizon, tf.int32))

    def explain(self, context, horizon: int) -> dict:
        """`context (B, T, 64, 64, 1)` float32 in [0, 1] -> the free-running rollout of `horizon` frames after it (the
        frames `go_on` gives after `start` without evidence), with what the head decided at each of its steps:
        {"inputs": `(B, horizon, 64, 64, 1)` the frame each step moved (the last context frame, then the
        predictions), "frames": `(B, horizon, 64, 64, 1)` the predictions in [0, 1], "kernels":
        `(B, horizon, h, w, n, window**2)` each patch's softmax over displacements per hypothesis, "choice":
        `(B, horizon, 64, 64, n + 1)` per pixel the softmax over the n moved copies and the generated image} (see
        `MotionHead.parts`), all float32 tensors. One loop for the whole batch (no halves)."""
        frames, kernels, choice = self._explain(tf.constant(context, tf.float32), tf.constant(horizon, tf.int32))
        return {"inputs": frames[:, :-1], "frames": frames[:, 1:], "kernels": kernels, "choice": choice}

    def one_step(self, frames) -> tf.Tensor:
        """Teacher-forced: `frames (B, T, 64, 64, 1)` -> `(B, T-1, 64, 64, 1)`, the predictions of frames 1..T-1."""
        return self._one_step(tf.constant(frames, tf.float32))

    def _read_unscored(self, context, evidence):
        """The states after the context frames whose predictions nobody looks at (read without the head), and the
        index of the last context frame."""
        states = self.model.initial_state(tf.shape(context)[0])
        last = tf.shape(context)[1] - 1
        for t in tf.range(last - evidence):
            states = self.model.read(context[:, t], states)
        return states, last

    def _start_graph(self, context, evidence):
        m = self.model
        states, last = self._read_unscored(context, evidence)
        error = tf.zeros(tf.shape(context)[:1])
        ink = tf.zeros(tf.shape(context)[:1])
        for t in tf.range(last - evidence, last):
            pred, states = m.step(context[:, t], states)
            truth = context[:, t + 1]
            error += squares(tf.cast(pred, tf.float32) - truth)
            ink += squares(truth)
        first, states = m.step(context[:, last], states)
        return tf.cast(first, tf.float32), states, relative_error(error, ink)

    def _start_until_graph(self, context, beat, evidence):
        """`_start_graph`, stopping once every row's error has reached its `beat` (the same numbers where not)."""
        m = self.model
        states, last = self._read_unscored(context, evidence)
        ink = tf.zeros(tf.shape(context)[:1])
        for t in tf.range(last - evidence, last):  # first, so that a hopeless row is known as soon as it is
            ink += squares(context[:, t + 1])
        # The scored frames and the last one in one loop, which stops once every row is hopeless. It looks at the
        # error one step late (`before`): a step's cells need only the states, not the step before's prediction,
        # so they run beside that prediction's head on the other core, which a loop waiting for each step's error
        # would not let them do (+2 ms on one row).
        error, before, first = tf.zeros(tf.shape(context)[:1]), tf.zeros(tf.shape(context)[:1]), context[:, last]
        t = last - evidence
        while tf.logical_and(t <= last, tf.logical_not(tf.reduce_all(relative_error(before, ink) >= beat))):
            pred, states = m.step(context[:, t], states)
            first = tf.cast(pred, tf.float32)
            before = error
            scored = tf.cast(t < last, tf.float32)  # the last frame's prediction has no truth to score
            error += scored * squares(first - context[:, tf.minimum(t + 1, last)])
            t += 1
        return first, states, relative_error(error, ink)

    def _roll_graph(self, context, horizon):
        """`_start_graph` without evidence, then `_go_on_graph`: the context read without the head up to its last
        frame (the states a step's `read` gives are those of its `step`), the last frame stepped, then the loop."""
        states, last = self._read_unscored(context, tf.constant(0, tf.int32))
        first, states = self.model.step(context[:, last], states)
        return self._free_run(tf.cast(first, tf.float32), states, horizon)[0]

    def _go_on_graph(self, first, states, horizon):
        return self._free_run(first, states, horizon)[0]

    def _explain_graph(self, context, horizon):
        """The context read without the head up to its last frame, then `_free_run` from that frame, explained:
        (frames `(B, horizon + 1, ...)`, the last context frame first; kernels and choice `(B, horizon, ...)`)."""
        states, last = self._read_unscored(context, tf.constant(0, tf.int32))
        return self._free_run(context[:, last], states, horizon + 1, explain=True)

    def _free_run(self, first, states, horizon, explain: bool = False):
        """The free-running loop every rollout runs: `first (B, 64, 64, 1)`, then `horizon - 1` model steps, each
        fed the frame before -> (frames `(B, horizon, 64, 64, 1)` float32,). With `explain` (a graph of its own:
        the model's `step(explain=True)`), also the head's kernels `(B, horizon - 1, h, w, n, window**2)` and choice
        `(B, horizon - 1, 64, 64, n + 1)` of each step, the step that predicted frame i + 1 at i."""
        m = self.model
        out = tf.TensorArray(tf.float32, size=horizon)
        why = [tf.TensorArray(tf.float32, size=horizon - 1) for _ in range(2 if explain else 0)]
        pred = first
        for i in tf.range(horizon):
            out = out.write(i, pred)
            if i + 1 < horizon:
                pred, states, *parts = m.step(pred, states, explain=True) if explain else m.step(pred, states)
                why = [w.write(i, tf.cast(part, tf.float32)) for w, part in zip(why, parts)]
                pred = tf.cast(pred, tf.float32)
        return tuple(_batch_major(a.stack()) for a in [out, *why])

    def _one_step_graph(self, frames):
        m = self.model
        states = m.initial_state(tf.shape(frames)[0])
        out = tf.TensorArray(tf.float32, size=tf.shape(frames)[1] - 1)
        for t in tf.range(tf.shape(frames)[1] - 1):
            pred, states = m.step(frames[:, t], states)
            out = out.write(t, tf.cast(pred, tf.float32))
        return tf.transpose(out.stack(), (1, 0, 2, 3, 4))



COPY_LAST = "copy-last"  # the expert name of `CopyLast`


class CopyLast:
    """The hand-written candidate beside the networks: every predicted frame is the last context frame. Same
    interface as `Rollout`, so a predictor's routing scores it like a network: its `start` error is what copying
    each frame would have missed over the last `evidence` context frames (0 for a part that stands still)."""

    model = None

    def start(self, context, evidence: int = 0, beat=None):
        """`context (B, T, 64, 64, 1)` float32 -> (the last frame `(B, 64, 64, 1)`, no states, error `(B,)`); `beat`
        is accepted as `Rollout.start`'s and ignored (every error here is exact: copying costs nothing)."""
        context = tf.constant(context, tf.float32)
        last = int(context.shape[1]) - 1
        evidence = max(0, min(int(evidence), last))
        seen, truth = context[:, last - evidence : last], context[:, last - evidence + 1 :]  # all frames at once
        return context[:, last], (), relative_error(squares(seen - truth), squares(truth))

    def go_on(self, first, states, horizon: int) -> tf.Tensor:
        """`(B, horizon, 64, 64, 1)`: `first (B, 64, 64, 1)` repeated."""
        return tf.repeat(first[:, None], int(horizon), axis=1)


def squares(x) -> tf.Tensor:
    """`x (B, ...)` float32 -> `(B,)`: the sum of each row's squared entries (a prediction's squared error, given
    prediction minus truth; a frame's squared ink, given the frame). >= 0."""
    return tf.reduce_sum(tf.square(x), axis=tuple(range(1, x.shape.rank)))


def relative_error(error, ink) -> tf.Tensor:
    """The score `start` gives: squared `error (B,)` over squared `ink (B,)` of the true frames (`squares`), >= 0;
    0: predicted exactly, 1: as far off as empty frames. Ink is floored at 1e-6: empty true frames score their
    error times 1e6 (0 where predicted empty as well)."""
    return error / tf.maximum(ink, 1e-6)


def _batch_major(stacked):
    """`(T, B, ...)`, as a `TensorArray` stacks a loop's outputs -> `(B, T, ...)`."""
    return tf.transpose(stacked, (1, 0, *range(2, stacked.shape.rank)))


def _halves(graph, batched: int):
    """`graph` run on each half of the batch (its first `batched` arguments, nested, are split; the rest shared),
    the results concatenated: two independent loops, which TensorFlow runs side by side."""
    def run(*args):
        parts, shared = args[:batched], args[batched:]
        half = (tf.shape(tf.nest.flatten(parts)[0])[0] + 1) // 2
        first = graph(*tf.nest.map_structure(lambda a: a[:half], parts), *shared)
        second = graph(*tf.nest.map_structure(lambda a: a[half:], parts), *shared)
        return tf.nest.map_structure(lambda a, b: tf.concat([a, b], 0), first, second)
    return run
