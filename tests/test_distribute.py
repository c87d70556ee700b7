"""`python -m train --strategy one|mirrored|multiworker`: the distributed runs train like the one-device run.

Two logical CPU devices (`tf.config.set_logical_device_configuration`, set before TensorFlow starts, hence a
subprocess) stand in for two GPUs; two local processes with `TF_CONFIG` on loopback ports stand in for two
machines. Each trains the same tiny model on the same batches; the global batch of 4 is split 2 + 2 over the
replicas, so every step computes the same update up to float summation order.
"""

import csv
import json
import os
import socket
import subprocess
import sys

import pytest

from train.distribute import make_strategy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--filters", "4", "4", "--kernel-size", "3", "--sequences-per-epoch", "8", "--batch-size", "4",
        "--val-sequences", "4", "--seq-len", "4", "--context", "2", "--epochs", "2", "--verbose", "0"]
# Relative difference allowed between a distributed run's losses and the one-device run's: the same data
# and the same updates, summed in another order (measured: 0 to ~1e-7).
LOSS_RTOL = 1e-5

TWO_DEVICES = r"""
import json, sys, time
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np
from train.__main__ import main
from train.data import SequenceBatches
from train.distribute import distributed_batches, make_strategy

out_dir, tiny = sys.argv[1], sys.argv[2:]
report = {}

# The input pipeline: global step g is batch g % n of epoch g // n, split over the replicas in order.
strategy = make_strategy("mirrored", ["CPU:0", "CPU:1"])
batches = SequenceBatches(8, 4, seq_len=4, seed=5)  # 2 batches per epoch
it = iter(distributed_batches(batches, strategy, epochs=2))
slices = []
for step in range(4):  # both epochs: the iterator crosses the epoch boundary
    x, y = next(it)
    xs, ys = strategy.experimental_local_results(x), strategy.experimental_local_results(y)
    ref_x, ref_y = SequenceBatches(8, 4, seq_len=4, seed=5, epoch=step // 2)[step % 2]
    slices.append({"shapes": [list(t.shape) for t in xs], "devices": [t.device for t in xs],
                   "x": bool(np.array_equal(np.concatenate([t.numpy() for t in xs]), ref_x)),
                   "y": bool(np.array_equal(np.concatenate([t.numpy() for t in ys]), ref_y))})
report["slices"] = slices
try:
    distributed_batches(SequenceBatches(6, 3, seq_len=4), strategy, epochs=1)
except ValueError as e:
    report["odd_batch_error"] = str(e)

for name, extra in (("one", ["--strategy", "one", "--devices", "CPU:0"]),
                    ("mirrored", ["--strategy", "mirrored", "--devices", "CPU:0", "CPU:1",
                                  "--output", f"{out_dir}/mirrored.keras"])):
    t0 = time.time()
    model = main(tiny + extra + ["--run-dir", f"{out_dir}/{name}"])
    print(f"{name}: {time.time() - t0:.1f} s", file=sys.stderr)
    report[name] = {"replicas": model.distribute_strategy.num_replicas_in_sync,
                    "weights": [w.tolist() for w in model.get_weights()]}
print("REPORT " + json.dumps(report))
"""


def _log(run_dir):
    rows = list(csv.DictReader(open(os.path.join(run_dir, "log.csv"))))
    return {k: [float(r[k]) for r in rows] for k in ("loss", "val_loss", "frame_mse")}


def _assert_close(got, want):
    for key in want:
        assert len(got[key]) == len(want[key]) == 2, key
        for g, w in zip(got[key], want[key]):
            assert abs(g - w) <= LOSS_RTOL * abs(w), (key, got[key], want[key])


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class DistributedRuns:
    """The module's three training processes, started together (each costs a TensorFlow import; the one-device and
    mirrored runs of `TWO_DEVICES` share one of them): `two_devices()` and `multiworker()` await theirs."""

    def __init__(self, root):
        self.root, self.reports = root, {}
        self.procs = {"two-devices": subprocess.Popen(
            [sys.executable, "-c", TWO_DEVICES, str(root / "distribute"), *TINY], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)}
        # Two "machines" (processes) with TF_CONFIG, one CPU replica each.
        workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
        self.run, self.out = str(root / "run"), str(root / "m.keras")
        for index in range(2):
            config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            self.procs[f"worker-{index}"] = subprocess.Popen(
                [sys.executable, "-m", "train", *TINY, "--strategy", "multiworker", "--run-dir", self.run,
                 "--output", self.out], cwd=ROOT, env={**os.environ, "TF_CONFIG": json.dumps(config)},
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def _wait(self, name, timeout):
        if name not in self.reports:
            proc = self.procs[name]
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()  # e.g. one worker failed and the other waits on it
                out, err = proc.communicate()
            self.reports[name] = (proc.returncode, out, err)
        return self.reports[name]

    def two_devices(self):
        code, stdout, stderr = self._wait("two-devices", 420)
        assert code == 0, stderr[-3000:]
        (line,) = [ln for ln in stdout.splitlines() if ln.startswith("REPORT ")]
        report = json.loads(line[len("REPORT "):])
        report["out"] = self.root / "distribute"
        report["logs"] = {name: _log(report["out"] / name) for name in ("one", "mirrored")}
        return report

    def multiworker(self):
        """[(return code, stderr)] of the two workers."""
        return [self._wait(f"worker-{i}", 300)[::2] for i in range(2)]

    def close(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def two_devices(distributed_runs):
    return distributed_runs.two_devices()


@pytest.mark.slow  # subprocesses that train
def test_input_pipeline_splits_the_global_batch_over_replicas(two_devices):
    for s in two_devices["slices"]:
        assert s["shapes"] == [[2, 4, 64, 64, 1]] * 2  # 4 sequences per global batch, 2 per replica
        assert [d.split("/")[-1] for d in s["devices"]] == ["device:CPU:0", "device:CPU:1"]
        assert s["x"] and s["y"]  # together, exactly the one-device batch of that step
    assert "must split evenly over 2 replicas" in two_devices["odd_batch_error"]


@pytest.mark.slow  # subprocesses that train
def test_mirrored_run_matches_the_one_device_run(two_devices):
    import numpy as np

    one, mirrored = two_devices["one"], two_devices["mirrored"]
    assert one["replicas"] == 1 and mirrored["replicas"] == 2
    logs = two_devices["logs"]
    assert logs["one"]["loss"][0] != logs["one"]["loss"][1]  # it trained: two different epochs
    _assert_close(logs["mirrored"], logs["one"])
    for a, b in zip(one["weights"], mirrored["weights"]):
        np.testing.assert_allclose(a, b, atol=1e-6)
    from predictor import load_predictor

    p = load_predictor(str(two_devices["out"] / "mirrored.keras"))  # exported from mirrored variables
    assert p.kind == "streaming" and p.info["training"]["epochs"] == 2


@pytest.mark.slow  # subprocesses that train
def test_multiworker_run_on_two_processes_matches_the_one_device_run(two_devices, distributed_runs):
    """Two "machines" (processes) with TF_CONFIG, one CPU replica each: the chief's log and export."""
    done, run, out = distributed_runs.multiworker(), distributed_runs.run, distributed_runs.out
    assert [code for code, _ in done] == [0, 0], "\n".join(err[-2000:] for _, err in done)
    _assert_close(_log(run), two_devices["logs"]["one"])
    assert os.path.exists(os.path.join(run, "worker-1", "log.csv"))  # the other worker kept to its own folder
    assert not os.path.exists(os.path.join(run, "worker-0"))
    from predictor import load_predictor

    assert load_predictor(out).info["training"]["epochs"] == 2  # the chief exported


def test_strategy_options_are_checked(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"task": {"type": "worker", "index": 0}}))
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        make_strategy("multiworker")
    with pytest.raises(ValueError, match="--devices needs --strategy one or mirrored"):
        make_strategy("default", ["GPU:0"])
    with pytest.raises(ValueError, match="strategy must be one of"):
        make_strategy("parameter-server")
    assert make_strategy("default") is None
