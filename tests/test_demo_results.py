"""demo.results: finished predictions served again, bounded, computed once however many ask at the same moment."""

import os
import threading
import time

import numpy as np
import pytest

from demo.results import ResultCache, input_key


def _outputs(folder, name):
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(name)
    return (path, "summary", [path])


def test_a_result_is_computed_once_kept_bounded_and_recomputed_when_its_files_are_gone(tmp_path):
    cache, calls = ResultCache(max_entries=2), []
    compute = lambda name: lambda: calls.append(name) or _outputs(tmp_path, name)  # noqa: E731
    first = cache.get_or_compute("a", compute("a"))
    old = time.time() - 500
    os.utime(first[0], (old, old))
    assert cache.get_or_compute("a", compute("a")) is first and calls == ["a"]
    assert os.path.getmtime(first[0]) > old + 400  # a use refreshes its files' age, so pruning spares them
    cache.get_or_compute("b", compute("b"))
    cache.get_or_compute("c", compute("c"))  # over max_entries: "a", the least recently used, goes
    cache.get_or_compute("a", compute("a"))
    assert calls == ["a", "b", "c", "a"] and (cache.hits, cache.misses) == (1, 4)
    os.remove(tmp_path / "c")  # pruned: served again only after computing it again
    cache.get_or_compute("c", compute("c"))
    assert calls[-1] == "c" and len(calls) == 5
    cache.forget()  # the warm-up forgets what visitors computed while it traced the graphs
    cache.get_or_compute("c", compute("c"))
    assert calls[-1] == "c" and len(calls) == 6


def test_identical_requests_at_once_wait_for_one_computation(tmp_path):
    cache, calls, results = ResultCache(), [], []
    started = threading.Event()

    def compute():
        calls.append(1)
        started.set()
        time.sleep(0.3)  # others arrive while this one runs
        return _outputs(tmp_path, "x")

    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 8 and all(r is results[0] for r in results)


def test_a_failure_is_not_cached_and_reaches_the_waiters(tmp_path):
    cache = ResultCache()
    with pytest.raises(ValueError, match="bad mode"):
        cache.get_or_compute("k", lambda: (_ for _ in ()).throw(ValueError("bad mode")))
    assert cache.get_or_compute("k", lambda: _outputs(tmp_path, "ok"))[1] == "summary"


def test_a_result_is_published_once_and_kept_as_published(tmp_path):
    published = []
    cache = ResultCache(publish=lambda out: published.append(out) or (out[0], "published", out[2]))
    first = cache.get_or_compute("k", lambda: _outputs(tmp_path, "x"))
    assert first[1] == "published" and cache.get_or_compute("k", lambda: _outputs(tmp_path, "y")) is first
    assert len(published) == 1
    failing = ResultCache(publish=lambda out: out if out == ("ok",) else 1 / 0)
    with pytest.raises(ZeroDivisionError):  # a failing publish is a failing computation: not kept
        failing.get_or_compute("k", lambda: _outputs(tmp_path, "x"))
    assert failing.get_or_compute("k", lambda: ("ok",)) == ("ok",) and failing.misses == 2


def test_input_key_names_the_frames_and_the_paths_that_drew_them():
    ctx, truth = np.zeros((4, 64, 64), np.uint8), np.ones((3, 64, 64), np.uint8)
    key = input_key("example", ctx, truth)
    assert key == input_key("example", ctx.copy(), truth.copy()) != input_key("upload", ctx, truth)
    assert key != input_key("example", ctx[:3], np.concatenate([ctx[3:], truth]))  # same frames, other split
    made = {"start": np.zeros((2, 2)), "vel": np.ones((2, 2))}
    assert input_key("compose", ctx, truth, made) != input_key("compose", ctx, truth, {**made, "vel": -made["vel"]})
