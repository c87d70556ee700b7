"""Finished predictions kept for the next visitor who asks for the same thing: a bounded LRU cache with single-flight
(while one request computes a result, identical requests wait for it instead of computing it again).

A public demo's visitors mostly press the same few examples with default settings; each result is a few files in
`demo.files.CACHE_DIR` plus a small table, so serving it again costs a dictionary look-up. An entry is the page's
outputs (paths and the metric table, not the frames); it is used only while all its files still exist, and each
use refreshes their modification time so that `demo.files.prune` counts their age from the last use.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future

import numpy as np

MAX_RESULTS = int(os.environ.get("CONVLSTM_APP_RESULTS", 64))  # entries; each holds ~8 paths and a <= 240-row table


def input_key(kind: str, context: np.ndarray, truth: np.ndarray, made: dict | None = None) -> str:
    """What identifies an input: its kind and a hash of its frames (context `(C, 64, 64)` and truth `(N, 64, 64)`
    uint8, their lengths included), plus, for a made sequence, the paths that drew it (the best possible line
    reads them)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{kind}:{len(context)}:{len(truth)}:".encode())
    for a in (context, truth, *((made["start"], made["vel"]) if kind == "compose" and made else ())):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _paths(outputs) -> list[str]:
    out = []
    for value in outputs:
        if isinstance(value, str) and os.path.isabs(value):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            out += _paths(value)
    return out


class ResultCache:
    """`get_or_compute(key, compute)`: the cached outputs of `key`, or `compute()`'s (then kept, at most
    `max_entries`, least recently used dropped first). Thread-safe; a failing `compute` is not cached and its
    error reaches every request that waited for it. `publish` (None: none), `outputs -> outputs`, is applied once to
    each computed result before it is kept and returned: the app makes the files the copies that Gradio serves
    (`demo.page.in_gradio_cache`), so that answering the result again costs Gradio no hashing or copying."""

    def __init__(self, max_entries: int = MAX_RESULTS, publish=None):
        self.max_entries, self.publish = max_entries, publish
        self._done: OrderedDict = OrderedDict()
        self._running: dict[object, Future] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def _fresh(self, key):
        """The entry of `key` if all its files still exist (their times refreshed), else None (and dropped)."""
        outputs = self._done.get(key)
        if outputs is None:
            return None
        try:
            for path in _paths(outputs):
                os.utime(path)
        except OSError:  # pruned meanwhile: compute it again
            del self._done[key]
            return None
        self._done.move_to_end(key)
        return outputs

    def forget(self) -> None:
        """Drop every finished entry (one being computed is kept when it finishes)."""
        with self._lock:
            self._done.clear()

    def get_or_compute(self, key, compute):
        with self._lock:
            outputs = self._fresh(key)
            if outputs is not None:
                self.hits += 1
                return outputs
            running = self._running.get(key)
            if running is None:
                self.misses += 1
                mine = self._running[key] = Future()
        if running is not None:  # an identical request is computing it: wait for that one
            return running.result()
        try:
            outputs = compute()
            if self.publish is not None:
                outputs = self.publish(outputs)
        except BaseException as e:
            with self._lock:
                del self._running[key]
            mine.set_exception(e)
            raise
        with self._lock:
            del self._running[key]
            self._done[key] = outputs
            while len(self._done) > self.max_entries:
                self._done.popitem(last=False)
        mine.set_result(outputs)
        return outputs
