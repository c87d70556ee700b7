"""demo.batcher: concurrent requests share one predict_batch, each gets what predict gives it alone, an error reaches
only its own caller, and waiting for the model is bounded."""

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from demo.batcher import Batcher
from predictor import load_predictor
from predictor.predictor import Predictor


class Shift(Predictor):
    """A stand-in predictor with a plain-numpy rollout (the base `Predictor`'s `predict`, `prepare`, `predict_prepared`
    around it): each predicted frame is the last context frame rolled one more pixel right, in [0, 1]; a context
    whose first pixel is 255 is "poison" (its rollout raises), as is any batch holding one. Records the size of every
    rollout (model call), and for each `prepare` its thread and whether `watch` (a lock) was held then."""

    def __init__(self, delay=0.0, watch=None):
        super().__init__(model=None)
        self.sizes, self.delay, self.watch, self.prepared_in = [], delay, watch, []

    def _prepare(self, x):
        self.prepared_in.append((threading.get_ident(), self.watch is not None and self.watch.locked()))
        return super()._prepare(x)

    def _rollout(self, x, horizon):
        self.sizes.append(len(x))  # x: (B, T, 64, 64, 1) float32 in [0, 1]
        time.sleep(self.delay)
        if (x[:, 0, 0, 0, 0] == 1).any():
            raise ValueError("poisoned context")
        return np.stack([np.roll(x[:, -1], k + 1, axis=-2) for k in range(horizon)], axis=1)


BATCHER = Batcher(wait_s=0.3)  # long enough for 8 threads to join even on a loaded machine


def contexts(n, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, 5, 64, 64), dtype=np.uint8)  # never 255: no poison


def at_once(fn, n):
    """fn(i) for i < n from n threads released together; each result or the exception it raised."""
    gate = threading.Barrier(n)

    def one(i):
        gate.wait()
        try:
            return fn(i)
        except Exception as e:
            return e

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_threads_at_once_share_a_batch_and_get_what_predict_gives_them_alone():
    model, xs = Shift(), contexts(8)
    out = at_once(lambda i: BATCHER.predict(model, xs[i], 3), 8)
    for i, o in enumerate(out):
        np.testing.assert_array_equal(o, model.predict(xs[i], 3))
        assert o.shape == (3, 64, 64) and o.dtype == np.float32
    batched = model.sizes[: len(model.sizes) - 8]  # the calls before the 8 checks above
    assert sum(batched) == 8 and len(batched) < 8, batched


def test_an_error_reaches_only_its_own_caller():
    model, xs = Shift(), contexts(6, seed=1)
    xs[2, 0, 0, 0] = 255
    out = at_once(lambda i: BATCHER.predict(model, xs[i], 2), 6)
    assert isinstance(out[2], ValueError) and "poisoned" in str(out[2])
    for i in (0, 1, 3, 4, 5):
        np.testing.assert_array_equal(out[i], model.predict(xs[i], 2))


def test_bad_input_is_refused_before_the_model():
    model = Shift()
    with pytest.raises(ValueError, match="context"):
        Batcher().predict(model, np.zeros((5, 32, 32)), 3)
    with pytest.raises(ValueError, match="horizon"):
        Batcher().predict(model, contexts(1)[0], 0)
    assert model.sizes == []


def test_contexts_are_prepared_in_their_own_threads_while_the_model_lock_is_held():
    batcher = Batcher(wait_s=0.05)
    model, xs = Shift(watch=batcher._model), contexts(4, seed=7)
    busy = threading.Thread(target=batcher.exclusive, args=(time.sleep, 1.0))  # the model busy with other work
    busy.start()
    time.sleep(0.1)
    out = at_once(lambda i: (threading.get_ident(), batcher.predict(model, xs[i], 2)), 4)
    busy.join()
    assert sorted(t for t, _ in model.prepared_in) == sorted(t for t, _ in out)  # each in its request's thread
    assert all(held for _, held in model.prepared_in)  # none waited for the lock to prepare
    assert model.sizes == [4]  # then one model call for all four
    for i, (_, o) in enumerate(out):
        np.testing.assert_array_equal(o, model.predict(xs[i], 2))


def test_different_horizons_and_lengths_are_never_mixed():
    model, xs = Shift(), contexts(4, seed=2)
    jobs = [(xs[0], 2), (xs[1], 3), (xs[2][:3], 2), (xs[3], 2)]
    out = at_once(lambda i: BATCHER.predict(model, *jobs[i]), 4)
    for (x, h), o in zip(jobs, out):
        np.testing.assert_array_equal(o, model.predict(x, h))
    assert sorted(model.sizes[:-4]) == [1, 1, 2]


def test_waiting_for_the_model_is_bounded():
    batcher = Batcher(wait_s=0, timeout_s=0.3)
    busy = threading.Thread(target=batcher.exclusive, args=(time.sleep, 2.0))
    busy.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    with pytest.raises(TimeoutError, match="did not answer"):
        batcher.predict(Shift(), contexts(1)[0], 2)
    assert time.perf_counter() - t0 < 1.5
    busy.join()


def test_a_full_batch_runs_and_the_next_requests_open_another():
    model, xs = Shift(delay=0.2), contexts(6, seed=3)
    batcher = Batcher(max_batch=3, wait_s=0.3)
    out = at_once(lambda i: batcher.predict(model, xs[i], 1), 6)
    for i, o in enumerate(out):
        np.testing.assert_array_equal(o, model.predict(xs[i], 1))
    assert max(model.sizes) <= 3 and sum(model.sizes[:-6]) == 6


def test_a_streaming_model_with_digit_layers_batched_equals_alone(tiny_model_path):
    from predictor.moving_mnist import generate

    predictor, xs = load_predictor(tiny_model_path, layers=2), generate(4, 8, rng=11, split="val")
    xs[3] = np.random.default_rng(0).integers(0, 256, xs[3].shape)  # noise: no digits, rolled out whole
    parts = [len(predictor.prepare(x).parts) for x in xs]  # split in each request's thread, then one batch
    assert max(parts) > 1 and min(parts) == 1, parts  # digit layers and whole frames in one batch
    out = at_once(lambda i: BATCHER.predict(predictor, xs[i], 3), 4)
    for i, o in enumerate(out):
        np.testing.assert_array_equal(o, predictor.predict(xs[i], 3))


def _graphs(predictor) -> list:
    """Every compiled graph (tf.function) of `predictor`'s rollouts that a prediction can reach, found by what they
    can do (not Look inside's `Rollout.explain`, which `warm` leaves to its first use)."""
    return [g for rollout in predictor.rollouts for g in _graphs_of(rollout)]


def _graphs_of(rollout) -> list:
    """`_graphs` of one rollout."""
    out = []
    for name, value in vars(rollout).items():
        if name == "_explain":
            continue
        for g in value if isinstance(value, list) else [value]:
            if hasattr(g, "experimental_get_tracing_count"):
                out.append(g)
    return out


def test_warm_compiles_every_graph_a_request_can_reach(tiny_model_path, tmp_path):
    for ext in (".keras", ".json"):  # a copy: a predictor no other test has run (load_predictor keeps a few)
        shutil.copy(tiny_model_path.replace(".keras", ext), tmp_path / f"fresh{ext}")
    predictor = load_predictor(str(tmp_path / "fresh.keras"))
    until = predictor.rollouts[0]._start_until  # reached only by a predictor with experts (routing)
    graphs = [g for g in _graphs(predictor) if g not in until]
    assert len(graphs) == 7 and all(g.experimental_get_tracing_count() == 0 for g in _graphs(predictor))
    batcher = Batcher(wait_s=0)
    assert batcher.warm(predictor) == 7
    traced = [g.experimental_get_tracing_count() for g in graphs]
    assert traced == [1] * 7
    # Then nothing a request does traces again: single, batched (halves), teacher-forced, other lengths.
    xs = contexts(3, seed=5)
    batched = at_once(lambda i: batcher.predict(predictor, xs[i], 3), 3)
    np.testing.assert_array_equal(batched[0], predictor.predict(xs[0], 3))
    predictor.predict_batch(contexts(2, seed=6)[:, :4], 7)
    predictor.one_step(xs[1])
    assert [g.experimental_get_tracing_count() for g in graphs] == traced
    assert batcher.warm(Shift()) == 0  # nothing compiled to warm
    assert [g.experimental_get_tracing_count() for g in until] == [0, 0]


@pytest.mark.slow  # traces 15 graphs: ~7 s
def test_warm_compiles_the_routing_graphs_of_a_predictor_with_experts(tiny_model_path, tmp_path):
    for ext in (".keras", ".json"):
        shutil.copy(tiny_model_path.replace(".keras", ext), tmp_path / f"fresh{ext}")
    predictor = load_predictor(str(tmp_path / "fresh.keras"), experts=[str(tmp_path / "fresh.keras"), "copy-last"])
    graphs = _graphs(predictor)
    # networks: read, roll out, read until (the model also both in one call); copy-last: two
    assert len(graphs) == 18 and Batcher(wait_s=0).warm(predictor) == 2 * 2 * 3 + 2 + 2 * 2 + 1
    unused = [predictor.rollouts[1]._one_step, *predictor.rollouts[1]._roll]  # an expert's: never called
    assert [g.experimental_get_tracing_count() for g in graphs if all(g is not u for u in unused)] == [1] * 15


@pytest.mark.slow  # traces 15 graphs: ~7 s
def test_warm_only_rolls_out_a_rule_expert(tiny_model_path, tmp_path):
    """A rule expert (`rollout.expert_rules`) takes its layers in one call (`Rollout.roll`) and is never read for
    evidence: its roll-out graphs are warmed, its reading graphs are not traced at all."""
    for name in ("fresh", "rule"):
        for ext in (".keras", ".json"):
            shutil.copy(tiny_model_path.replace(".keras", ext), tmp_path / f"{name}{ext}")
    rule = str(tmp_path / "rule.keras")
    predictor = load_predictor(str(tmp_path / "fresh.keras"), experts=[rule, "copy-last"], cache=False)
    predictor.expert_rules = {rule: "round"}
    assert predictor.rule_experts() == {1: "round"}
    # per batch of 1 and 2: the model's roll, read + roll out, read until; the rule expert's roll; copy-last's two
    assert Batcher(wait_s=0).warm(predictor) == 2 * (1 + 2 + 1) + 2 * 1 + 2 * 2 + 1
    expert = predictor.rollouts[1]
    assert [g.experimental_get_tracing_count() for g in expert._roll] == [1, 1]
    reads = [g for g in _graphs(predictor) if any(g is r for r in _graphs_of(expert)) and all(g is not r for r in
                                                                                            expert._roll)]
    assert len(reads) >= 4 and all(g.experimental_get_tracing_count() == 0 for g in reads)
