"""`python -m train`: a tiny real run, kill -9 mid-training, then --resume to a model that loads."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from predictor import load_predictor
from train.checkpoint import trim_log
from train.data import SequenceBatches

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--filters", "4", "4", "--kernel-size", "3", "--sequences-per-epoch", "8", "--batch-size", "4",
        "--val-sequences", "4", "--seq-len", "8", "--context", "4", "--verbose", "0"]


NO_TF = ("import runpy, sys; sys.modules['tensorflow'] = None; sys.argv[0] = 'train'; "
         "runpy.run_module('train', run_name='__main__', alter_sys=True)")  # `python -m train` without TensorFlow
LR = ["--learning-rate", "0.003", "--lr-patience", "0"]  # patience 0: the rate drops after any non-improving epoch


class TrainRuns:
    """The slow tests' `python -m train` processes, each costing a TensorFlow (or JAX) import, started together so
    that they share both cores, the resumes as soon as what they resume is there (a thread watches for that):
    - `kill`: a bfloat16 run killed with -9 after its second epoch, then `kill-resumed` for two more (`--output`);
    - `whole`, `parts`, `other`: 3 epochs; 1 epoch, then `parts-resumed` to 3; 1 epoch of another seed;
    - `jax`: `KERAS_BACKEND=jax` with TensorFlow unimportable, warm-started from a model saved here.
    `wait(name)` gives a finished process's (return code, stdout, stderr); `killed` is the kill run's state.json
    right after the kill, with the temporary files its folder then held (`temporary`)."""

    FOLLOWED = ("kill", "parts", "kill-resumed", "parts-resumed")  # the watching thread's

    def __init__(self, root):
        self.root, self.done, self.procs, self.failed = root, {}, {}, None
        self.dir = {name: str(root / name) for name in ("kill", "whole", "parts", "other", "jax")}
        self.out = {"kill": str(root / "kill.keras"), "jax": str(root / "jax.keras")}
        self.killed = {"epoch": -1, "checkpoint": "", "temporary": []}
        self.watcher = None

    def _start(self, name, args, env=None, python_args=("-m", "train")):
        self.procs[name] = subprocess.Popen([sys.executable, *python_args, *args], cwd=ROOT, env=env,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def start(self):
        from predictor.models import build_streaming_model

        source = str(self.root / "source.keras")
        build_streaming_model(filters=(4, 4), kernel_size=3, motion_features=2).save(source)
        self._start("kill", [*TINY, "--motion-features", "2", "--precision", "mixed_bfloat16", "--epochs", "40",
                             "--run-dir", self.dir["kill"]])
        self._start("whole", [*TINY, *LR, "--epochs", "3", "--run-dir", self.dir["whole"]])
        self._start("parts", [*TINY, *LR, "--epochs", "1", "--run-dir", self.dir["parts"]])
        self._start("other", [*TINY, *LR, "--epochs", "1", "--seed", "1", "--run-dir", self.dir["other"]])
        self._start("jax", [*TINY, "--filters", "6", "4", "--motion-features", "2", "--ssim-weight", "0.1",
                            "--epochs", "1", "--init-from", source, "--run-dir", self.dir["jax"],
                            "--output", self.out["jax"]],
                    env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}, python_args=("-c", NO_TF))
        self.watcher = threading.Thread(target=self._resume_both, daemon=True)
        self.watcher.start()

    def _resume_both(self):
        try:
            state, kill_by = os.path.join(self.dir["kill"], "state.json"), time.time() + 600
            while "kill" in self.procs or "parts" in self.procs:
                # The kill run says nothing when it checkpoints: its state file is what there is to watch.
                if "kill" in self.procs and (time.time() > kill_by or self.procs["kill"].poll() is not None or (
                        os.path.exists(state) and json.load(open(state))["epoch"] >= 2)):
                    self._kill_and_resume(state)
                if "parts" in self.procs and self.procs["parts"].poll() is not None and self._wait("parts")[0] == 0:
                    self._start("parts-resumed", ["--run-dir", self.dir["parts"], "--resume", "--epochs", "3"])
                time.sleep(0.2)
        except Exception as e:  # noqa: BLE001  raised again where a test waits
            self.failed = e

    def _kill_and_resume(self, state):
        proc = self.procs.pop("kill")
        proc.send_signal(signal.SIGKILL)  # kill -9, wherever it is
        self.done["kill"] = (proc.returncode, *proc.communicate())
        if os.path.exists(state):
            self.killed = json.load(open(state))
            self.killed["temporary"] = [f for f in os.listdir(self.dir["kill"])
                                        if ".tmp-" in f and f.endswith(".json")]
        if self.killed["epoch"] >= 2:
            self._start("kill-resumed", ["--run-dir", self.dir["kill"], "--resume", "--epochs",
                                         str(self.killed["epoch"] + 2), "--output", self.out["kill"]])

    def wait(self, name, timeout=300):
        """`(return code, stdout, stderr)` of run `name` once it has finished."""
        if name in self.FOLLOWED:
            self.watcher.join()
            if self.failed:
                raise self.failed
        return self._wait(name, timeout)

    def _wait(self, name, timeout=300):
        if name not in self.done:
            proc = self.procs.pop(name)
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            self.done[name] = (proc.returncode, out, err)
        return self.done[name]

    def close(self):
        if self.watcher:
            self.watcher.join()
        for proc in self.procs.values():
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def train_runs(tmp_path_factory):
    runs = TrainRuns(tmp_path_factory.mktemp("train-runs"))
    try:
        runs.start()
        yield runs
    finally:
        runs.close()


@pytest.fixture(scope="module", autouse=True)
def _train_runs_early(request, start_early):
    start_early(request, "train_runs")  # the in-process tests below run while they train


def test_data_order_is_deterministic():
    a = SequenceBatches(8, 4, seq_len=6, seed=3, epoch=2)[1][0]
    b = SequenceBatches(8, 4, seq_len=6, seed=3, epoch=2)[1][0]
    c = SequenceBatches(8, 4, seq_len=6, seed=3, epoch=3)[1][0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_data_workers_change_speed_not_batches():
    """--data-workers: Keras' enqueuer keeps the order, and each epoch's batches come from (seed, epoch, index)."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter  # what fit() iterates with

    def two_epochs(workers):
        adapter = PyDatasetAdapter(SequenceBatches(24, 4, seq_len=4, seed=3, workers=workers), shuffle=False)
        sums = []
        for _ in range(2):
            adapter.on_epoch_begin()
            sums.append([float(x.sum()) for x, _ in adapter.get_numpy_iterator()])
            adapter.on_epoch_end()
        return sums

    one, three = two_epochs(1), two_epochs(3)
    assert one == three and len(one[0]) == 6 and one[0] != one[1]


@pytest.mark.slow
def test_kill_then_resume_finishes_with_a_loadable_model(train_runs):
    """A bfloat16 run (`--precision mixed_bfloat16` computes in bfloat16) killed with -9 and resumed: the resumed run
    keeps the run's precision, and the exported file is float32 all through (the app and the evaluation read it as
    any other model). One run for both: each `python -m train` costs a TensorFlow import."""
    train_runs.wait("kill")  # killed
    run, out, saved = train_runs.dir["kill"], train_runs.out["kill"], train_runs.killed
    state = os.path.join(run, "state.json")
    assert saved["epoch"] >= 2 and os.path.exists(os.path.join(run, saved["checkpoint"]))
    assert not saved["temporary"]

    code, _, err = train_runs.wait("kill-resumed")
    assert code == 0, err[-2000:]
    final = json.load(open(state))
    assert final["epoch"] == saved["epoch"] + 2
    epochs = [int(r["epoch"]) for r in csv.DictReader(open(os.path.join(run, "log.csv")))]
    assert epochs == list(range(final["epoch"]))  # every epoch once, 0-based as CSVLogger writes them
    assert [h["epoch"] for h in final["history"]] == list(range(1, final["epoch"] + 1))
    ckpts = [f for f in os.listdir(run) if f.startswith("ckpt-epoch-")]
    assert ckpts == [final["checkpoint"]] == [f"ckpt-epoch-{final['epoch']:04d}.keras"]
    p = load_predictor(out, cache=False)
    future = p.predict(np.zeros((4, 64, 64), np.uint8), 2)
    assert future.shape == (2, 64, 64) and np.isfinite(future).all()
    assert p.info["training"]["epochs"] == final["epoch"] and "python -m train" in p.info["training"]["command"]
    assert final["args"]["precision"] == "mixed_bfloat16"  # the resumed run kept the run's precision
    policies = {layer.dtype_policy.name for layer in p.model._flatten_layers()}
    assert policies == {"float32"}, policies
    assert "--precision mixed_bfloat16" in p.info["training"]["command"]


def test_trim_log_drops_rows_of_epochs_not_checkpointed(tmp_path):
    # A kill between CSVLogger's row and the checkpoint leaves a row for an epoch that --resume trains again.
    log = tmp_path / "log.csv"
    log.write_text("epoch,loss\n0,0.5\n1,0.4\n2,0.3\n")
    trim_log(str(log), 2)
    assert log.read_text() == "epoch,loss\n0,0.5\n1,0.4\n"
    trim_log(str(log), 5)
    assert log.read_text() == "epoch,loss\n0,0.5\n1,0.4\n"


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    """In-process (no TensorFlow import in a subprocess): `sys.exit(message)` is what `python -m train` exits with,
    status 1 and the message on stderr."""
    from train.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(["--run-dir", str(tmp_path / "none"), "--resume"])
    assert isinstance(e.value.code, str) and "no checkpoint" in e.value.code


@pytest.mark.slow
def test_resumed_run_matches_an_uninterrupted_one(train_runs):
    # Data order, optimizer state and the learning-rate schedule all come back from the checkpoint, so
    # stopping after epoch 1 and resuming gives the same epoch-3 numbers as never stopping. `other`, a different
    # seed, hence different data, shows what the tolerance separates.
    firsts = [train_runs.wait(name) for name in ("whole", "parts", "other")]
    assert [code for code, _, _ in firsts] == [0, 0, 0], "\n".join(err[-2000:] for _, _, err in firsts)
    code, _, err = train_runs.wait("parts-resumed")
    assert code == 0, err[-2000:]
    a, b, c = (json.load(open(os.path.join(train_runs.dir[d], "state.json")))["history"]
               for d in ("whole", "parts", "other"))
    assert [h["epoch"] for h in b] == [1, 2, 3]
    # Multi-threaded CPU kernels sum in varying order, so equal runs agree to float noise (~1e-4), not bit for bit.
    for ha, hb in zip(a, b):
        assert ha["learning_rate"] == hb["learning_rate"], (ha, hb)
        for key in ("loss", "val_loss"):
            assert np.isclose(ha[key], hb[key], rtol=3e-3), (key, ha, hb)
    assert not np.isclose(a[0]["loss"], c[0]["loss"], rtol=3e-3)



@pytest.mark.slow
def test_trains_under_jax_without_tensorflow_and_the_model_runs_here(train_runs):
    """The GPU path (tools/gpu_session.sh): `KERAS_BACKEND=jax python -m train` on a machine without TensorFlow,
    warm-starting a wider model from one saved here; the export then loads and predicts under TensorFlow."""
    code, stdout, err = train_runs.wait("jax", timeout=600)
    assert code == 0, err[-3000:]
    assert "Initialised 12 of 12 variables" in stdout  # grown cell 0 (4 -> 6 filters) included
    p = load_predictor(train_runs.out["jax"])
    assert p.info["training"]["machines"][0].startswith("jax on CPU (")
    assert p.info["training"]["command"].startswith("KERAS_BACKEND=jax python -m train ")
    assert p.info["parameters"] == p.model.count_params() and p.model.config.filters == (6, 4)
    assert np.isfinite(p.info["training"]["history"][0]["loss"])
    future = p.predict(np.zeros((4, 64, 64), np.uint8), 3)
    assert future.shape == (3, 64, 64) and np.isfinite(future).all()


def test_lineage_lists_every_command_oldest_first_with_its_machine():
    from demo.session import model_markdown
    from train.export import sequences_seen, training_commands

    first = {"command": "python -m train --seed 0", "resumed_with": ["python -m train --resume"],
             "sequences_seen": 100}
    gpu = {"command": "KERAS_BACKEND=jax python -m train --init-from a.keras", "machines": ["jax on 1x NVIDIA H200"],
           "sequences_seen": 5000, "init_from": {"source": "a.keras", "source_training": first}}
    last = {"command": "python -m train --init-from b.keras", "machines": ["tensorflow on CPU (2 cores)"],
            "sequences_seen": 40, "init_from": {"source": "b.keras", "source_training": gpu}}
    assert training_commands(last) == [first["command"], *first["resumed_with"], gpu["command"], last["command"]]
    assert training_commands(last, with_machines=True) == [
        first["command"], *first["resumed_with"], "# jax on 1x NVIDIA H200", gpu["command"],
        "# tensorflow on CPU (2 cores)", last["command"]]
    assert sequences_seen(last) == 5140

    class Card:  # what model_markdown reads of a predictor
        def describe(self):
            return {"architecture": "StreamingConvLSTM", "parameters": 10, "training": last}

    text = model_markdown(Card())
    assert "3 training stages" in text and "5,140 sequences in all" in text and "# jax on 1x NVIDIA H200" in text


def test_plateau_flags_reach_the_callback(tmp_path):
    """--lr-patience and --lr-factor (the GPU stages cut the rate by 0.3x, not the seed's 0.1x)."""
    import keras
    from train.__main__ import callbacks, parse_args
    from train.config import from_args

    def plateau(argv):
        cfg = from_args(parse_args(argv))
        found = [c for c in callbacks(cfg, {"epoch": 0}, str(tmp_path))
                 if isinstance(c, keras.callbacks.ReduceLROnPlateau)]
        return (found[0].factor, found[0].patience) if found else None

    assert plateau([]) == (0.1, 5)
    assert plateau(["--lr-patience", "2", "--lr-factor", "0.3"]) == (0.3, 2)
    assert plateau(["--lr-schedule", "cosine"]) is None  # the schedule alone sets the rate


def test_cosine_schedule_runs_from_the_rate_to_a_twentieth():
    from train.__main__ import cosine_rate

    rates = [cosine_rate(1e-3, epoch, 5) for epoch in range(5)]
    assert rates[0] == pytest.approx(1e-3) and rates[-1] == pytest.approx(5e-5)
    assert rates[2] == pytest.approx((1e-3 + 5e-5) / 2) and all(a > b for a, b in zip(rates, rates[1:]))
    assert cosine_rate(1e-3, 9, 5) == pytest.approx(5e-5)  # epochs added later by --resume --epochs stay at the end


@pytest.fixture(scope="module")
def in_process_run(tmp_path_factory):
    """One tiny run through `main()` in this process (no TensorFlow import in a subprocess), bfloat16 with the cosine
    schedule and a weight average (--ema), exported to `model.keras` beside its run folder: (its run folder, the
    global dtype policy's name right after it)."""
    import keras
    from train.__main__ import main

    run = str(tmp_path_factory.mktemp("in-process") / "run")
    keras.config.set_dtype_policy("float32")
    main([*TINY, "--precision", "mixed_bfloat16", "--lr-schedule", "cosine", "--learning-rate", "2e-3", "--epochs",
          "3", "--ema", "0.6", "--run-dir", run, "--output", os.path.join(os.path.dirname(run), "model.keras")])
    return run, keras.config.dtype_policy().name


@pytest.mark.slow
def test_cosine_schedule_is_what_the_run_trains_with(in_process_run):
    from train.__main__ import cosine_rate

    run, _ = in_process_run
    with open(os.path.join(run, "log.csv")) as f:
        logged = [float(row["learning_rate"]) for row in csv.DictReader(f)]
    assert logged == pytest.approx([cosine_rate(2e-3, epoch, 3) for epoch in range(3)], rel=1e-5)


def test_speeds_draw_each_training_digit_its_own(capsys):
    """--speeds LOW HIGH: every digit of every training sequence moves at its own speed in the range."""
    from predictor.moving_mnist import SPEED, starts
    from train.__main__ import describe_data, parse_args
    from train.config import from_args

    _, vel = starts(400, 2, (2.0, 4.0), np.random.default_rng(0))
    speed = np.hypot(vel[..., 0], vel[..., 1])
    assert 2.0 <= speed.min() < 2.1 and 3.9 < speed.max() <= 4.0 and speed.std() > 0.5
    one = starts(5, 2, SPEED, np.random.default_rng(0))[1]
    assert np.allclose(np.hypot(one[..., 0], one[..., 1]), SPEED)  # one speed: the generator's draws, unchanged
    ranged = SequenceBatches(8, 4, seq_len=6, seed=3, speed=(2.0, 4.0))[0][0]
    plain = SequenceBatches(8, 4, seq_len=6, seed=3)[0][0]
    assert ranged.shape == plain.shape == (4, 6, 64, 64, 1) and not np.array_equal(ranged, plain)
    cfg = from_args(parse_args(["--speeds", "2", "4"]))
    assert cfg.speed() == (2.0, 4.0) and "2-4 px/frame (drawn per digit" in describe_data(cfg)
    assert from_args(parse_args([])).speed() == SPEED and "at 3.6 px/frame" in describe_data(from_args(parse_args([])))
    for bad in (["5"], ["4", "2"], ["1", "2", "3"]):
        with pytest.raises(SystemExit):
            parse_args(["--speeds", *bad])
        assert "--speeds takes one speed or LOW HIGH" in capsys.readouterr().err


def test_digits_flag_reaches_training_and_validation_sequences():
    """--digits 1: one-digit sequences to train and validate on (what a digit-layers rollout feeds the model)."""
    from predictor.moving_mnist import generate
    from train.__main__ import datasets, describe_data, parse_args
    from train.config import from_args

    cfg = from_args(parse_args(["--digits", "1", "--val-sequences", "3", "--seq-len", "6", "--batch-size", "2"]))
    train, (val_x, _) = datasets(cfg, epoch=0)
    expect = generate(2, 6, 1, rng=np.random.default_rng([cfg.seed, 0, 0]), split="train")
    assert np.allclose(train[0][0][..., 0] * 255, expect, atol=1e-3)
    assert np.allclose(val_x[..., 0] * 255, generate(3, 6, 1, rng=12345, split="val"), atol=1e-3)
    assert "1 digit bouncing" in describe_data(cfg)


def test_ema_outside_0_1_is_a_clear_error(capsys):
    from train.__main__ import parse_args

    assert parse_args(["--ema", "0.999"]).ema == 0.999 and parse_args([]).ema is None
    for bad in ("1", "1.5", "-0.1"):
        with pytest.raises(SystemExit):
            parse_args(["--ema", bad])
        assert "--ema takes a momentum in [0, 1)" in capsys.readouterr().err


def test_bfloat16_is_refused_for_the_keras_example_preset(capsys):
    from train.__main__ import parse_args

    for name in ("keras-example", "seed"):
        with pytest.raises(SystemExit):
            parse_args(["--preset", name, "--precision", "mixed_bfloat16"])
        assert "streaming preset" in capsys.readouterr().err


def test_seed_is_the_keras_example_presets_old_name(capsys):
    """`--preset seed` (and state.json files that stored it) mean the Keras example's model, named keras-example."""
    from predictor.models import build_model
    from train.__main__ import parse_args
    from train.config import TrainConfig, from_args

    for argv in (["--preset", "seed"], ["--preset", "keras-example"]):
        assert from_args(parse_args(argv)).preset == "keras-example"
    assert TrainConfig.from_dict({**TrainConfig().to_dict(), "preset": "seed"}).preset == "keras-example"
    assert build_model("seed").name == build_model("keras-example").name == "seed"
    with pytest.raises(ValueError, match="preset must be one of"):
        build_model("seeds")
    with pytest.raises(SystemExit):
        parse_args(["--preset", "seeds"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.slow
def test_ema_exports_the_average_and_checkpoints_keep_both(in_process_run):
    """--ema: the exported file holds the optimizer's moving average, not the last step's weights; the checkpoint
    keeps both (the average as an optimizer slot), so a resumed run goes on averaging."""
    import keras

    run, _ = in_process_run
    state = json.load(open(os.path.join(run, "state.json")))
    ckpt = keras.saving.load_model(os.path.join(run, state["checkpoint"]))
    average = [np.asarray(v) for v in ckpt.optimizer._model_variables_moving_average]
    weights = [np.asarray(v) for v in ckpt.trainable_weights]
    exported = [np.asarray(v) for v in keras.saving.load_model(os.path.join(os.path.dirname(run), "model.keras"),
                                                               compile=False).trainable_weights]
    assert ckpt.optimizer.use_ema and ckpt.optimizer.ema_momentum == pytest.approx(0.6)
    assert all(np.allclose(e, a) for e, a in zip(exported, average))
    assert not all(np.allclose(e, w) for e, w in zip(exported, weights))
    assert json.load(open(os.path.join(os.path.dirname(run), "model.json")))["training"]["command"].count("--ema 0.6")


@pytest.mark.slow
def test_an_in_process_run_gives_the_dtype_policy_back(in_process_run):
    """`main()` called from Python (a notebook, a test) leaves the caller's global policy as it found it."""
    _, policy_after = in_process_run
    assert policy_after == "float32"
