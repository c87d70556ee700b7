"""Concurrent free-running predictions run as one `predict_batch`, and the model's work one call at a time.

When a crowd arrives, many requests reach the model together. Running them one by one costs one graph call each;
`predict_batch` rolls them all out in one call (the `StreamingPredictor` runs the two halves of a batch on the two
cores), and gives each context exactly what `predict` gives it alone (tested with the bundled model). So
`Batcher.predict`: the first request for a (predictor, context shape, horizon) opens a batch and leads it; requests
that arrive while it collects (`wait_s`) or while an earlier batch still runs join it (at most `max_batch`); the
leader runs the batch and each request gets its slice. Every model call (batches and `Batcher.exclusive` work such
as a teacher-forced `one_step`) runs under one lock: each already uses both cores, so two at once would only
share them. What a rollout does to each context alone before the model runs (`Predictor.prepare`: checking it and,
for a streaming model with digit layers, the split and the layers' speeds, ~15-22 ms of numpy each) runs in the
request's own thread before it joins a batch, so it overlaps the model's work instead of holding its lock; only
`predict_prepared` runs under it. A bad context fails in `prepare`, in its own request; a batch that fails is run
again one context at a time, so an error reaches only its own caller.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from predictor.predictor import check_horizon

MAX_BATCH = int(os.environ.get("CONVLSTM_APP_MAX_BATCH", 16))  # contexts per model call (peak memory)
WAIT_S = float(os.environ.get("CONVLSTM_APP_BATCH_WAIT_MS", 5)) / 1000  # how long a new batch collects
TIMEOUT_S = float(os.environ.get("CONVLSTM_APP_MODEL_TIMEOUT", 120))  # the longest a request waits for the model


class _Batch:
    def __init__(self):
        self.contexts: list = []  # `predictor.prepare(context)` of each request, one length T
        self.results: list = []  # per context: (T', 64, 64) float32 in [0, 1], or the exception it raised
        self.done = threading.Event()


class Batcher:
    """`predict(predictor, context, horizon)`: `predictor.predict(context, horizon)`'s frames `(horizon, 64, 64)
    float32` in [0, 1], computed in one `predict_prepared` (the rollout part of `predict_batch`) with the requests
    that arrive at the same time; `predictor` is any `predictor.Predictor` (`prepare` and `predict_prepared`).
    `exclusive(fn, *args)`: `fn(*args)` run under the same one-model-call-at-a-time lock. Both wait at most
    `timeout_s` for the model (then TimeoutError); thread-safe."""

    def __init__(self, max_batch: int = MAX_BATCH, wait_s: float = WAIT_S, timeout_s: float = TIMEOUT_S):
        if max_batch < 1 or wait_s < 0 or timeout_s <= 0:
            raise ValueError(f"Batcher needs max_batch >= 1, wait_s >= 0, timeout_s > 0. Received: "
                             f"max_batch={max_batch}, wait_s={wait_s}, timeout_s={timeout_s}")
        self.max_batch, self.wait_s, self.timeout_s = max_batch, wait_s, timeout_s
        self._open: dict = {}  # (predictor, context shape, horizon) -> the batch still taking requests
        self._lock = threading.Lock()  # guards _open
        self._model = threading.Lock()  # one model call at a time
        self.calls = self.batched = 0  # predict_prepared calls made, contexts they carried

    def predict(self, predictor, context, horizon: int) -> np.ndarray:
        # In this request's thread, outside the model lock: checks the context (a bad one fails only this request)
        # and does the per-context numpy work, so that the lock is held for the model calls alone.
        x = predictor.prepare(context)
        horizon = check_horizon(horizon)
        key = (predictor, len(x), horizon)
        with self._lock:
            batch = self._open.get(key)
            lead = batch is None
            if lead:
                batch = self._open[key] = _Batch()
            slot = len(batch.contexts)
            batch.contexts.append(x)
            if len(batch.contexts) >= self.max_batch:  # full: later requests open the next one
                del self._open[key]
        if lead:
            self._lead(key, batch, predictor, horizon)
        elif not batch.done.wait(self.timeout_s):
            raise TimeoutError(f"The model did not answer within {self.timeout_s:.0f} s (the server is busy).")
        result = batch.results[slot]
        if isinstance(result, BaseException):
            raise result
        return result

    def exclusive(self, fn, *args):
        if not self._model.acquire(timeout=self.timeout_s):
            raise TimeoutError(f"The model did not answer within {self.timeout_s:.0f} s (the server is busy).")
        try:
            return fn(*args)
        finally:
            self._model.release()

    def warm(self, predictor) -> int:
        """Compile every graph a request can reach before any visitor waits for it: each rollout's reading of a
        context and its rolling out (the model's also both in one call), for a batch of one and for a batch run
        as two halves (the first batch of a crowd, or a context split into digit layers, needs those), and the
        teacher-forced step; with experts, also each network's reading that stops once it cannot win. TensorFlow
        traces a graph on its first call (~0.2-0.5 s of CPU each; ~10 s for the default's 25 graphs on this
        machine), and warming on one example reaches only some: a burst paid the rest. Inputs are blank frames,
        results discarded. Each graph's call holds the model lock alone, so a request that comes meanwhile waits for
        one graph, not all of them. A rule expert (`StreamingPredictor.rule_experts`) is only rolled out in one call:
        that graph alone. Returns how many graphs were called (0 for a predictor without compiled rollouts)."""
        routed = bool(getattr(predictor, "experts", ()))  # only routing reads with `beat` (StreamingPredictor._start)
        ruled = predictor.rule_experts() if hasattr(predictor, "rule_experts") else {}  # only rolled out, in one call
        units = []  # (graphs it calls, call): each under the model lock alone, so a visitor waits for one, not all
        for k, rollout in enumerate(getattr(predictor, "rollouts", ())):
            for batch in (1, 2):
                blank = np.zeros((batch, 3, 64, 64, 1), np.float32)
                if k == 0 or k in ruled:  # read and roll out in one call (the model's own parts, a rule's)
                    units.append((1, lambda r=rollout, b=blank: r.roll(b, 2)))
                if k in ruled:
                    continue
                units.append((2, lambda r=rollout, b=blank: r.go_on(*r.start(b, 1)[:2], 2)))
                if routed and hasattr(rollout, "_start_until"):
                    units.append((1, lambda r=rollout, b=blank: r.start(b, 1, np.full(len(b), np.inf, np.float32))))
        if units:
            units.append((1, lambda: predictor.one_step(np.zeros((2, 64, 64), np.float32))))
        for _, call in units:
            self.exclusive(call)
            time.sleep(0.005)  # a lock is not fair: let a waiting request take it before the next graph
        return sum(n for n, _ in units)

    def _lead(self, key, batch: _Batch, predictor, horizon: int) -> None:
        """Collect for `wait_s` (and while an earlier batch runs), close the batch, run it, wake its requests."""
        try:
            time.sleep(self.wait_s)
            if not self._model.acquire(timeout=self.timeout_s):
                raise TimeoutError(f"The model did not answer within {self.timeout_s:.0f} s (the server is busy).")
            try:
                with self._lock:
                    if self._open.get(key) is batch:
                        del self._open[key]
                batch.results = self._run(predictor, batch.contexts, horizon)
            finally:
                self._model.release()
        except BaseException as e:  # e.g. the timeout: every request of this batch gets it
            batch.results = [e] * len(batch.contexts)
        finally:
            batch.done.set()

    def _run(self, predictor, contexts: list, horizon: int) -> list:
        """`contexts`: prepared ones (`predictor.prepare`) -> per context `(horizon, 64, 64)` float32 in [0, 1] or the
        exception its rollout raised."""
        self.calls += 1
        self.batched += len(contexts)
        try:
            return list(predictor.predict_prepared(contexts, horizon))
        except Exception as e:
            if len(contexts) == 1:
                return [e]
        results = []  # the batch failed: each context alone, so each error reaches only its own request
        for c in contexts:
            try:
                results.append(predictor.predict_prepared([c], horizon)[0])
            except Exception as e:
                results.append(e)
        return results
