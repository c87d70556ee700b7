"""Scaling `python -m train` out with `tf.distribute`: one device, several GPUs, several machines.

    python -m train --strategy mirrored --batch-size 16 ...                 # every local GPU; 16 is the global batch
    python -m train --strategy mirrored --devices GPU:0 GPU:2 --batch-size 16 ...
    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}, "task": {"type": "worker", "index": 0}}' \\
        python -m train --strategy multiworker --batch-size 32 ...          # the same command on every machine

`--batch-size` is the global batch: each of the R replicas gets `batch_size / R` sequences per step and the
gradients are averaged, so a mirrored step computes the same update as a one-device step on the whole batch.
The input pipeline is a `tf.data` pipeline over `train.data.SequenceBatches`: global step g of the run is
batch `g % n` of epoch `g // n` (n batches per epoch), exactly the batch a one-device run trains on, and
each replica takes its slice of it. `--strategy default` keeps the plain Keras loop (no `tf.distribute`) and
never imports TensorFlow, so `KERAS_BACKEND=jax python -m train ...` runs where only JAX is installed (e.g. a
GPU machine; see docs/training.md).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os

STRATEGIES = ("default", "one", "mirrored", "multiworker")


def make_strategy(name: str = "default", devices: list[str] | None = None):
    """The `tf.distribute.Strategy` for `--strategy` (None for "default": Keras's own one-device loop).

    "one": `OneDeviceStrategy` on `devices[0]` (default: the first GPU, else the CPU); "mirrored":
    `MirroredStrategy` over `devices` (default: every GPU, else the CPU); "multiworker":
    `MultiWorkerMirroredStrategy`, cluster and this worker's index read from the `TF_CONFIG` variable.
    Must run before TensorFlow starts executing anything else (multi-worker sets up its collectives).
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}. Received: strategy={name!r}")
    if name == "default":
        if devices:
            raise ValueError(f"--devices needs --strategy one or mirrored. Received: devices={devices}")
        return None
    import tensorflow as tf

    if name == "one":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(devices[0] if devices else (gpus[0].name if gpus else "/cpu:0"))
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices or None)
    config = os.environ.get("TF_CONFIG")
    try:
        cluster = json.loads(config).get("cluster") if config else None
    except (ValueError, AttributeError):
        cluster = None
    if not cluster:
        raise ValueError(
            "--strategy multiworker needs TF_CONFIG, e.g. '{\"cluster\": {\"worker\": [\"host1:12345\", "
            f"\"host2:12345\"]}}, \"task\": {{\"type\": \"worker\", \"index\": 0}}}}'. Received: TF_CONFIG={config!r}"
        )
    if devices:
        raise ValueError("--devices does not apply to multiworker: each worker uses all of its GPUs.")
    from train.multiworker import MultiWorkerStrategy

    return MultiWorkerStrategy()


def scope(strategy):
    """`strategy.scope()`, or nothing for the default loop: models and optimizers must be created inside."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def is_chief(strategy) -> bool:
    """True on the worker that writes checkpoints, exports and pushes (always, except multi-worker index > 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if strategy is None or resolver is None:
        return True
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type is None or task_type == "chief" or (task_type == "worker" and task_id == 0)


def worker_run_dir(run_dir: str, strategy) -> str:
    """Where this worker writes checkpoints: the run directory for the chief, a private folder otherwise
    (every worker must still save, as saving mirrored variables may need all of them)."""
    if is_chief(strategy):
        return run_dir
    path = os.path.join(run_dir, f"worker-{strategy.cluster_resolver.task_id}")
    os.makedirs(path, exist_ok=True)
    return path


def distributed_batches(batches, strategy, epochs: int, initial_epoch: int = 0):
    """`tf.distribute.DistributedDataset` of the batches of epochs `initial_epoch .. epochs - 1`.

    `batches` is a `train.data.SequenceBatches`; its `batch_size` is the global batch. Train on it with
    `model.fit(ds, steps_per_epoch=len(batches), epochs=epochs, initial_epoch=initial_epoch)`: Keras keeps one
    iterator across epochs when `steps_per_epoch` is given, so epoch e reads global steps e*n .. e*n + n - 1.
    """
    import tensorflow as tf

    n, global_batch = len(batches), batches.batch_size
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise ValueError(
            f"--batch-size is the global batch and must split evenly over {replicas} replicas. "
            f"Received: batch_size={global_batch}"
        )
    per_replica = global_batch // replicas
    x0, y0 = batches[0]  # shapes only: (B, T or T-1, 64, 64, 1), (B, T-1, 64, 64, 1)

    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        local = replicas // ctx.num_input_pipelines  # replicas fed by this pipeline (this worker's devices)
        first = ctx.input_pipeline_id * local * per_replica  # this worker's slice of each global batch

        def load(step):
            epoch, index = divmod(int(step), n)
            b = copy.copy(batches)  # a private copy: tf.data may call this from several threads
            b.epoch = epoch
            x, y = b[index]
            return x[first : first + local * per_replica], y[first : first + local * per_replica]

        def split(x, y):  # (local * per_replica, ...) -> `local` consecutive per-replica batches
            x.set_shape((local * per_replica,) + x0.shape[1:])
            y.set_shape((local * per_replica,) + y0.shape[1:])
            shape = lambda a: tf.concat([[local, per_replica], tf.shape(a)[1:]], 0)  # noqa: E731
            return tf.data.Dataset.from_tensor_slices((tf.reshape(x, shape(x)), tf.reshape(y, shape(y))))

        steps = tf.data.Dataset.range(initial_epoch * n, epochs * n)
        ds = steps.map(lambda s: tf.py_function(load, [s], [tf.float32, tf.float32]))
        return ds.flat_map(split).prefetch(2)

    options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
    return strategy.distribute_datasets_from_function(dataset_fn, options)


def describe(strategy) -> str:
    if strategy is None:
        return "default (one device, Keras loop)"
    devices = getattr(strategy.extended, "worker_devices", ())
    return f"{type(strategy).__name__}: {strategy.num_replicas_in_sync} replicas on {', '.join(devices)}"

