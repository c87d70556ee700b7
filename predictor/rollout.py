"""The streaming rollout loop, once: read the context, score the model on its last frames, then roll out.

    r = Rollout(model, "bfloat16")            # a StreamingConvLSTM; its rollout copy computes in that dtype
    first, states, error = r.start(context, evidence=4)   # context (B, T, 64, 64, 1) float32 in [0, 1]
    first, states, error = r.start(context, 4, beat=limit) # stop reading a row once its error reaches limit
    frames = r.go_on(first, states, horizon=10)            # (B, 10, 64, 64, 1), the first one being `first`

`start` reads the context frames without the head, except the last `evidence` of them before the final one, whose
one-step predictions are scored against the true next frames: `error (B,)` is the squared error over those frames
divided by their squared ink (0: predicted exactly; 1: as far off as empty frames), which tells how well this model
follows this context's motion. With `beat` (an expert asked whether it predicts a part better than the model),
a row's scoring stops once its error can no longer stay below `beat`: the rest of its context and its first
prediction are not computed, since they would not be used. `go_on` feeds the model its own predictions. Batches of
two or more run as two independent halves, whose ops TensorFlow runs side by side (with
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
        self._one_step = tf.function(self._one_step_graph, input_signature=[frames])

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
            error += tf.reduce_sum(tf.square(tf.cast(pred, tf.float32) - truth), axis=(1, 2, 3))
            ink += tf.reduce_sum(tf.square(truth), axis=(1, 2, 3))
        first, states = m.step(context[:, last], states)
        return tf.cast(first, tf.float32), states, error / tf.maximum(ink, 1e-6)

    def _start_until_graph(self, context, beat, evidence):
        """`_start_graph`, stopping once every row's error has reached its `beat` (the same numbers where not)."""
        m = self.model
        states, last = self._read_unscored(context, evidence)
        ink = tf.zeros(tf.shape(context)[:1])
        for t in tf.range(last - evidence, last):  # first, so that a hopeless row is known as soon as it is
            ink += tf.reduce_sum(tf.square(context[:, t + 1]), axis=(1, 2, 3))
        ink = tf.maximum(ink, 1e-6)
        # The scored frames and the last one in one loop, which stops once every row is hopeless. It looks at the
        # error one step late (`before`): a step's cells need only the states, not the step before's prediction,
        # so they run beside that prediction's head on the other core, which a loop waiting for each step's error
        # would not let them do (+2 ms on one row).
        error, before, first = tf.zeros(tf.shape(context)[:1]), tf.zeros(tf.shape(context)[:1]), context[:, last]
        t = last - evidence
        while tf.logical_and(t <= last, tf.logical_not(tf.reduce_all(before / ink >= beat))):
            pred, states = m.step(context[:, t], states)
            first = tf.cast(pred, tf.float32)
            before = error
            scored = tf.cast(t < last, tf.float32)  # the last frame's prediction has no truth to score
            error += scored * tf.reduce_sum(tf.square(first - context[:, tf.minimum(t + 1, last)]), axis=(1, 2, 3))
            t += 1
        return first, states, error / ink

    def _go_on_graph(self, first, states, horizon):
        m = self.model
        out = tf.TensorArray(tf.float32, size=horizon)
        pred = first
        for i in tf.range(horizon):
            out = out.write(i, pred)
            if i + 1 < horizon:
                pred, states = m.step(pred, states)
                pred = tf.cast(pred, tf.float32)
        return tf.transpose(out.stack(), (1, 0, 2, 3, 4))

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
        seen, truth = context[:, last - evidence : last], context[:, last - evidence + 1 :]
        error = tf.reduce_sum(tf.square(seen - truth), axis=(1, 2, 3, 4))
        ink = tf.reduce_sum(tf.square(truth), axis=(1, 2, 3, 4))
        return context[:, last], (), error / tf.maximum(ink, 1e-6)

    def go_on(self, first, states, horizon: int) -> tf.Tensor:
        """`(B, horizon, 64, 64, 1)`: `first (B, 64, 64, 1)` repeated."""
        return tf.repeat(first[:, None], int(horizon), axis=1)


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
