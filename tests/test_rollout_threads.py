"""`load_predictor()` runs rollouts with the app's TensorFlow threads (`predictor.runtime.use_rollout_threads`)
where that is still possible, leaves them alone when asked or when TensorFlow already runs, and never fails over it;
and the bundled model loads and predicts in a fresh process whose every network connection fails.
Thread pools are fixed once per process, so each case is a fresh interpreter (one per case, all started together:
each costs a TensorFlow import, so the offline load and `use_rollout_threads` called directly are checked in the
same processes)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASE = r"""
import json, socket, sys
def refuse(*a, **k):
    raise OSError("network blocked by the test")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.getaddrinfo = socket.create_connection = refuse
import numpy as np
before = sys.argv[1]
import predictor
from predictor import runtime
import tensorflow as tf
first = None  # what use_rollout_threads() said when called directly (the "direct" and "tf-ran" cases)
if before == "direct":  # called before TensorFlow has run anything: it sets the threads
    first = runtime.use_rollout_threads()
    tf.zeros(1)
if before == "tf-ran":  # a process that ran TensorFlow first (trained, or built another model): pools are fixed
    tf.reduce_sum(tf.ones((4, 4))).numpy()
    first = runtime.use_rollout_threads()  # too late: refused, nothing changed
from predictor import load_predictor
from predictor.moving_mnist import generate
p = load_predictor(rollout_threads=(before not in ("opt-out", "direct")))
future = p.predict(generate(1, 10, rng=1, split="val")[0], horizon=3)
print(json.dumps({"intra": tf.config.threading.get_intra_op_parallelism_threads(),
                  "inter": tf.config.threading.get_inter_op_parallelism_threads(),
                  "first": first, "again": runtime.use_rollout_threads(), "shape": list(future.shape),
                  "dtype": str(future.dtype), "kind": p.kind, "parameters": p.info["parameters"]}))
"""


CASES = [("fresh", 1, 2, None, True), ("opt-out", 0, 0, None, False), ("tf-ran", 0, 0, False, False),
         ("direct", 1, 2, True, True)]


def start_cases() -> dict:
    """Every case's fresh process, started together (each is mostly a TensorFlow import: side by side they take
    half the time); case name -> its `subprocess.Popen`. Started as the session begins (conftest's
    `rollout_thread_procs`), so they run while other tests do."""
    # HF_HUB_OFFLINE=0: the Hub library is not told it is offline; only the failing connections say so.
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": ROOT, "HF_HUB_OFFLINE": "0"}
    return {c[0]: subprocess.Popen([sys.executable, "-c", CASE, c[0]], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for c in CASES}


@pytest.fixture(scope="session")
def case_runs(rollout_thread_procs):
    """Case name -> its finished `subprocess.Popen` and (stdout, stderr)."""
    return {name: (proc, proc.communicate(timeout=300)) for name, proc in rollout_thread_procs.items()}


@pytest.mark.slow
@pytest.mark.parametrize("before, intra, inter, first, again", CASES)
def test_load_predictor_uses_the_rollout_threads_where_it_can(case_runs, before, intra, inter, first, again):
    from predictor import load_predictor

    proc, (stdout, stderr) = case_runs[before]
    assert proc.returncode == 0, stderr[-3000:]
    got = json.loads(stdout.strip().splitlines()[-1])
    # 0 is TensorFlow's "choose for me" (all cores); opt-out and tf-ran keep it, and setting it later is refused.
    assert (got["intra"], got["inter"], got["first"], got["again"]) == (intra, inter, first, again)
    # The bundled model loaded and predicted with no network.
    assert (got["kind"], got["shape"], got["dtype"]) == ("streaming", [3, 64, 64], "float32")
    assert got["parameters"] == load_predictor().info["parameters"]


def test_concurrently_runs_the_calls_at_the_same_time_and_returns_them_in_order():
    """Each call waits for the other to have started: one after the other, both would time out."""
    import threading

    from predictor import runtime

    started = [threading.Event(), threading.Event()]

    def call(i):
        started[i].set()
        return i, started[1 - i].wait(timeout=10)

    assert runtime.concurrently(lambda: call(0), lambda: call(1)) == [(0, True), (1, True)]
    assert runtime.concurrently(lambda: 5) == [5] and runtime.concurrently() == []


def test_concurrently_raises_a_calls_error_after_every_call_has_finished():
    import threading

    from predictor import runtime

    finished = threading.Event()

    def slow():
        finished.wait(timeout=0.2)
        finished.set()

    def fail():
        raise ValueError("bad call")

    with pytest.raises(ValueError, match="bad call"):
        runtime.concurrently(fail, slow)
    assert finished.is_set()
