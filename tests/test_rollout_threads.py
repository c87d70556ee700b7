"""`load_predictor()` runs rollouts with the app's TensorFlow threads (`predictor.runtime.use_rollout_threads`)
where that is still possible, leaves them alone when asked or when TensorFlow already runs, and never fails over it.
Thread pools are fixed once per process, so each case is a fresh interpreter."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASE = r"""
import json, sys
import numpy as np
before = sys.argv[1]
import predictor
import tensorflow as tf
if before == "tf-ran":  # a process that ran TensorFlow first (trained, or built another model): pools are fixed
    tf.reduce_sum(tf.ones((4, 4))).numpy()
from predictor import load_predictor, runtime
p = load_predictor(rollout_threads=(before != "opt-out"))
future = p.predict(np.zeros((4, 64, 64), np.uint8), horizon=2)
print(json.dumps({"intra": tf.config.threading.get_intra_op_parallelism_threads(),
                  "inter": tf.config.threading.get_inter_op_parallelism_threads(),
                  "again": runtime.use_rollout_threads(), "shape": list(future.shape)}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("before, intra, inter, again", [("fresh", 1, 2, True), ("opt-out", 0, 0, False),
                                                         ("tf-ran", 0, 0, False)])
def test_load_predictor_uses_the_rollout_threads_where_it_can(before, intra, inter, again):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", CASE, before], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # 0 is TensorFlow's "choose for me" (all cores); opt-out and tf-ran keep it, and setting it later is refused.
    assert (got["intra"], got["inter"], got["again"], got["shape"]) == (intra, inter, again, [2, 64, 64])
