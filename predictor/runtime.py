"""How the streaming predictor's graphs run on a CPU: threads and the precision of convolutions.

    from predictor import runtime
    runtime.use_rollout_threads()   # first thing in a serving process (app.py, tools.bench), before TF runs;
                                    # load_predictor() does it too, where TensorFlow has not started yet
    runtime.conv_dtype()            # "bfloat16" on CPUs with native bfloat16 arithmetic, else "float32"
    a, b = runtime.concurrently(lambda: f(x), lambda: g(y))   # two graph calls at once (TF releases the GIL)

A rollout is a long chain of small ops (16x16 convolutions at batch 1 or 2): split over two threads each op gains
little, while two ops at once on one thread each keep both cores busy, and `StreamingPredictor` rolls a batch out
as two independent loops so that there are two ops to run, and runs independent graph calls (e.g. the model's rollout
of one part and an expert's of another) from two Python threads (`concurrently`) where one alone would leave a core
idle. What each setting gains, measured: docs/training.md.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import threading

ROLLOUT_THREADS = {"intra_op": 1, "inter_op": 2}
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 flags of native bfloat16 dot products (Linux /proc/cpuinfo)


def use_rollout_threads() -> bool:
    """Run each TensorFlow op on one thread, two ops at a time. Process-wide, so call it at the start of a process
    that serves rollouts (not one that trains: large convolutions want every thread); `load_predictor` calls it
    unless given `rollout_threads=False`. Returns True when TensorFlow runs with these threads (calling it again is
    harmless); False, changing nothing, where Keras runs on another backend or TensorFlow has already started with
    other threads (its thread pools are then fixed for the life of the process)."""
    import keras

    if keras.backend.backend() != "tensorflow":  # JAX or torch: TensorFlow's pools do not run the rollout
        return False
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(ROLLOUT_THREADS["intra_op"])
        tf.config.threading.set_inter_op_parallelism_threads(ROLLOUT_THREADS["inter_op"])
    except RuntimeError:  # "... cannot be modified after initialization"
        return False
    return True


_POOL = None
_POOL_LOCK = threading.Lock()
POOL_THREADS = 4  # callers waiting on graphs, not cores: one per call beside the caller's own (the model, 3 experts)


def concurrently(*calls):
    """`[call() for call in calls]`, the first in this thread and the others at the same time on a small shared pool
    of threads. For graph calls (`tf.function`s): TensorFlow releases the GIL while they run, so their ops share the
    inter-op threads (`use_rollout_threads`) instead of waiting for one another. An exception in any call is raised
    here, after every call has finished."""
    global _POOL
    if len(calls) <= 1:
        return [call() for call in calls]
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = concurrent.futures.ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="rollout")
    others = [_POOL.submit(call) for call in calls[1:]]
    try:
        first = calls[0]()
    finally:
        concurrent.futures.wait(others)
    return [first, *(f.result() for f in others)]


@functools.lru_cache(maxsize=1)
def native_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True where the CPU computes bfloat16 dot products natively. Elsewhere bfloat16 is emulated, and slower than
    float32."""
    try:
        with open(cpuinfo) as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def conv_dtype() -> str:
    """The dtype `StreamingPredictor`'s convolutions compute in: "bfloat16" where the CPU has it natively (the loaded
    model's weights and every other op stay float32, only the copy that rollouts run on holds its convolutions'
    weights in bfloat16; what it gains and costs: docs/training.md), else "float32". PREDICTOR_CONV_DTYPE=float32 (or
    bfloat16) overrides."""
    forced = os.environ.get("PREDICTOR_CONV_DTYPE")
    if forced not in (None, "", "float32", "bfloat16"):
        raise ValueError(f"PREDICTOR_CONV_DTYPE must be float32 or bfloat16. Received: {forced!r}")
    return forced or ("bfloat16" if native_bfloat16() else "float32")
