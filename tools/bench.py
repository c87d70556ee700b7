"""Rollout speed: the default streaming predictor against the Keras example's procedure, in one run.

    python -m tools.bench                                  # 10 context -> 10 frames, and longer horizons
    python -m tools.bench --horizons 10 20 40 80 --seed-horizons 10 20 40
    python -m tools.bench --filters 64 64 --kernel-size 3   # what a wider model would cost (untrained)
    python -m tools.bench --parts                           # where one step's time goes
    python -m tools.bench --horizons 10 --seed-horizons --breakdown   # where one 10-frame rollout's time goes

The seed's procedure is the Keras example's: one `model.predict` on the whole growing sequence per new frame,
on the example's exact model (freshly built: speed does not depend on the weights), in a fresh process with
TensorFlow's default threads (its best), alternating with the streaming predictor as `app.py` runs it
(`predictor.runtime`: one thread per op, two ops at a time, bfloat16 convolutions where the CPU has them): per
horizon, `--seed-repeats` rounds of one seed rollout then `--repeats` streaming ones. Prints median times. The
context is a generated validation sequence; for a streaming model, the median-time one of 16 (`typical_context`).
`--filters` / `--kernel-size` time an untrained model with the `--model`'s other options instead: the cost of
an architecture before anyone trains it.

    from tools.bench import time_rollouts
    rows = time_rollouts(streaming, seed, context, horizons=[10, 20], seed_horizons=[10])  # {h: (s, s or None)}
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import statistics
import time

import numpy as np

from predictor import load_predictor, runtime
from predictor.models import build_seed_model, build_streaming_model
from predictor.moving_mnist import generate
from predictor.predictor import SeedPredictor, StreamingPredictor, _run_calls, as_frames


def median_seconds(fn, repeats: int, warmup: bool = True) -> float:
    """Median wall-clock seconds of `repeats` calls of `fn()`, after one untimed warm-up call if `warmup`."""
    if warmup:
        fn()  # graph tracing and first-call allocation are not rollout cost
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def format_row(h: int, fast: float | None, slow: float | None) -> str:
    ms = lambda s: "-" if s is None else f"{1000 * s:9.1f}"  # noqa: E731
    ratio = f"{slow / fast:7.0f}x" if fast and slow else "-"
    return f"horizon {h:3d}: default {ms(fast)} ms   seed procedure {ms(slow)} ms   speed-up {ratio}"


def time_rollouts(streaming, seed, context: np.ndarray, horizons, seed_horizons=(), repeats: int = 3,
                  seed_repeats: int = 1, log=print) -> dict[int, tuple[float | None, float | None]]:
    """Median seconds of one free-running rollout from `context (C, 64, 64)` (uint8, or float in [0, 1]).

    Returns {horizon: (seconds of `streaming`, seconds of `seed`)}, sorted by horizon; a time is None where
    that horizon is not in `horizons` (for `streaming`) or `seed_horizons` (for `seed`, the seed's predictor or a
    `SeedWorker`; None when `seed_horizons` is empty). The two alternate: per horizon, `seed_repeats` rounds of one
    seed rollout then `repeats` streaming ones, so both are timed under the same conditions (a shared machine's
    speed drifts over minutes). The streaming predictor is warmed up at every horizon (milliseconds); the seed's
    procedure, which costs seconds, once with a 2-frame rollout (its `model.predict` then serves every sequence
    length). `log` receives one line per horizon as soon as it is timed.
    """
    if seed_horizons:
        seed.predict(context, 2)
    rows = {}
    for h in sorted(set(horizons) | set(seed_horizons)):
        fast, slow = [], []
        if h in horizons:
            streaming.predict(context, h)  # warm-up: tracing is not rollout cost
        for _ in range(seed_repeats if h in seed_horizons else 1):
            if h in seed_horizons:
                slow.append(median_seconds(lambda: seed.predict(context, h), 1, warmup=False))
            if h in horizons:
                fast.append(median_seconds(lambda: streaming.predict(context, h), repeats, warmup=False))
        rows[h] = (statistics.median(fast) if fast else None, statistics.median(slow) if slow else None)
        if log:
            log(format_row(h, *rows[h]))
    return rows


class SeedWorker:
    """The seed's procedure on the example's model (freshly built: speed does not depend on the weights) in a fresh
    Python process with TensorFlow's default threads: its 64x64 convolutions want both cores on each op, so it runs
    there as fast as it can, whatever threads this process uses (`runtime.use_rollout_threads`). `predict(context,
    horizon)` as a predictor's; use it in a `with` block."""

    def __enter__(self):
        self.pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return self

    def __exit__(self, *exc):
        self.pool.shutdown()

    def predict(self, context, horizon: int) -> np.ndarray:
        return self.pool.submit(_seed_predict, context, horizon).result()


_SEED = None  # in the worker process


def _seed_predict(context, horizon):
    global _SEED
    if _SEED is None:
        _SEED = SeedPredictor(build_seed_model(), {}, "seed (untrained)")
    return _SEED.predict(context, horizon)


def reshaped(streaming: StreamingPredictor, **options) -> StreamingPredictor:
    """An untrained streaming predictor with `streaming`'s model options, `options` (e.g. filters) replaced."""
    model = build_streaming_model(streaming.model.config, **options)
    return StreamingPredictor(model, {"parameters": model.count_params()}, f"untrained {options}")


def step_parts(model, steps: int = 20, repeats: int = 15) -> dict[str, float]:
    """Median seconds of `steps` calls of each part of one `StreamingConvLSTM.step` (batch 1, random inputs of
    the right shapes), each part in its own compiled loop: the neighbourhoods, the motion evidence, every cell,
    the head, and the whole step. The parts add up to about the whole. Each part is the model's own layer or
    function; the cells' and the head's inputs are what the model's own `_advance` gives for that frame."""
    import tensorflow as tf
    from keras import ops

    from predictor.layers import motion_cost, neighbourhoods

    c = model.config
    frame = tf.random.uniform((1, 64, 64, 1))
    states = model.initial_state(1)
    feats, neighbours, _ = model._advance(frame, states)  # every cell's output, side by side
    outputs = ops.split(feats, np.cumsum(c.filters)[:-1].tolist(), axis=-1)
    side = 64 // c.patch
    inputs = [tf.random.uniform((1, side, side, c.patch * c.patch + c.motion_features)), *outputs[:-1]]
    parts = {"neighbourhoods": lambda: neighbourhoods(frame, c.window, c.patch)}
    if c.motion_features:
        parts["motion evidence"] = lambda: model.motion(motion_cost(neighbours, frame, c.patch))
    for i, (cell, x, state) in enumerate(zip(model.cells, inputs, states)):
        parts[f"cell{i} ({cell.filters} filters, kernel {cell.kernel_size})"] = \
            lambda cell=cell, x=x, state=state: cell((x, state))[0]
    parts["head"] = lambda: model.head.parts((feats, frame, neighbours))[0]
    parts["whole step"] = lambda: model.step(frame, states)[0]

    def looped(fn):
        @tf.function
        def run():
            total = tf.zeros(())
            for _ in tf.range(steps):
                total += tf.reduce_sum(tf.cast(fn(), tf.float32))  # used, so the part is not pruned
            return total
        return run

    return {name: median_seconds(looped(fn), repeats) for name, fn in parts.items()}


def rollout_breakdown(predictor: StreamingPredictor, context: np.ndarray, horizon: int = 10,
                      repeats: int = 9) -> dict[str, tuple[float, float]]:
    """Where one `predictor.predict(context, horizon)` spends its time, stage by stage as `StreamingPredictor` runs
    them: {stage: (median wall-clock seconds, median CPU seconds of this process, all threads)}. Stages: "split" (the
    digit layers), "model reads" (the model's `start` on every part, with the experts' evidence), "experts read"
    (the experts' `start` on the parts the model asks about; 0 where none is asked), "roll out" (every part's
    rollout by the model that won it), and "whole predict" (all of it, with the conversions between). Where every part
    is the model's whatever its evidence (no experts, or digit layers at its own speeds: `StreamingPredictor.
    _rollout_whole`), one graph call reads and rolls out without evidence: "model reads" is then nothing and "roll
    out" holds both. Wall-clock is only meaningful on an idle machine; CPU seconds show the work however busy it is
    (two cores busy for 10 ms: 20)."""
    x = as_frames(context)
    parts, speeds, rules = predictor._parts_speeds_rules(x)
    first, states, error = predictor.rollouts[0].start(parts, predictor._evidence())
    best = error.numpy()
    own, margin = predictor._speed_rule(len(parts), speeds)
    ask = predictor._asked(parts, best, own)
    loops = [predictor._loops(k, len(ask)) for k in range(1, len(predictor.rollouts))]
    one_call = not predictor.experts or len(x) < 2 or own.all()
    stages = {
        "split": lambda: predictor._parts_speeds_rules(x),
        "model reads": (lambda: None) if one_call else
        (lambda: predictor.rollouts[0].start(parts, predictor._evidence())[2].numpy()),
        "experts read": (lambda: [r[2].numpy() for r in _run_calls(predictor._expert_reads(parts, ask, best,
                                                                                           margin[ask]), loops)])
        if len(ask) else (lambda: None),
        "roll out": lambda: predictor._rollout_whole(parts, horizon, speeds, rules),  # less its reads: subtracted below
        "whole predict": lambda: predictor.predict(context, horizon),
    }
    out = {}
    for name, fn in stages.items():
        fn()  # tracing is not rollout cost
        wall, cpu = [], []
        for _ in range(max(1, repeats)):
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
        out[name] = (statistics.median(wall), statistics.median(cpu))
    reads = [sum(out[k][i] for k in ("model reads", "experts read")) for i in (0, 1)]
    out["roll out"] = tuple(max(0.0, out["roll out"][i] - reads[i]) for i in (0, 1))
    return out


def typical_context(predictor, frames: int, candidates: int = 16) -> np.ndarray:
    """A validation context `(frames, 64, 64) uint8`: of the first `candidates` generated ones (seed 0), the one whose
    10-frame rollout takes the median time (each the median of three after one untimed run: one timing would pick
    by the machine's noise). With digit layers contexts differ: split at once or only by the looks
    (`predictor.separate`), their rule told by a bounce or not (then the rule experts roll out too,
    `StreamingPredictor._mix_untold`); the median is what a visitor typically waits."""
    contexts = generate(candidates, frames, rng=0, split="val")
    if getattr(predictor, "split", None) is None:  # not a streaming model: every context costs the same
        return contexts[0]
    seconds = [median_seconds(lambda c=c: predictor.predict(c, 10), repeats=3) for c in contexts]
    return contexts[np.argsort(seconds)[len(seconds) // 2]]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--context", type=int, default=10)
    ap.add_argument("--horizons", type=int, nargs="+", default=[10, 20, 40, 80])
    ap.add_argument("--seed-horizons", type=int, nargs="*", default=[10, 20],
                    help="horizons to time the seed's O(T^2) procedure at (seconds per rollout; none: skip it)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of the default predictor per round (median)")
    ap.add_argument("--seed-repeats", type=int, default=3,
                    help="rounds: one timed run of the seed's procedure (seconds each), then --repeats of the default")
    ap.add_argument("--filters", type=int, nargs="+", help="time an untrained model with these ConvLSTM widths")
    ap.add_argument("--kernel-size", type=int, help="time an untrained model with this ConvLSTM kernel")
    ap.add_argument("--parts", action="store_true", help="also time each part of one model step (20 steps each)")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time each stage of one rollout of the first --horizons (wall-clock and CPU, --repeats)")
    args = ap.parse_args(argv)

    threads = runtime.use_rollout_threads()  # as app.py runs
    streaming = load_predictor(args.model)
    context = typical_context(streaming, args.context)
    shape = {k: v for k, v in (("filters", args.filters), ("kernel_size", args.kernel_size)) if v is not None}
    if (shape or args.parts or args.breakdown) and not isinstance(streaming, StreamingPredictor):
        ap.error(f"--filters, --kernel-size, --parts and --breakdown need a streaming --model. "
                 f"Received: {streaming.kind}")
    if shape:
        streaming = reshaped(streaming, **shape)
        print(f"{streaming.source}: {streaming.info['parameters']:,} parameters", flush=True)
    print(f"{streaming.source}: convolutions in {getattr(streaming, 'conv_dtype', 'float32')}, "
          f"{'one thread per op, two ops at a time' if threads else 'TensorFlow default threads'}; the seed's "
          "procedure in a fresh process with TensorFlow's default threads", flush=True)
    with SeedWorker() as seed:
        rows = time_rollouts(streaming, seed if args.seed_horizons else None, context, args.horizons,
                             args.seed_horizons, args.repeats, args.seed_repeats,
                             log=lambda line: print(line, flush=True))
    fast10, slow10 = rows.get(10, (None, None))
    if fast10 and slow10:
        print(f"\n10-frame rollout ({args.context} context frames): default {1000 * fast10:.1f} ms, "
              f"seed procedure {slow10:.2f} s -> {slow10 / fast10:.0f}x faster")
    if args.breakdown:
        h = args.horizons[0]
        print(f"\nOne {h}-frame rollout ({args.context} context frames), by stage (median of {args.repeats}; "
              "wall-clock needs an idle machine, CPU is this process's, all threads):")
        for name, (wall, cpu) in rollout_breakdown(streaming, context, h, args.repeats).items():
            print(f"  {name:14s} {1000 * wall:6.1f} ms wall   {1000 * cpu:6.1f} ms CPU")
    if args.parts:
        print("\nOne step, by part (20 steps each; a 10-frame rollout from 10 context frames is 20 steps):")
        for name, seconds in step_parts(streaming.rollout_model).items():
            print(f"  {name:36s} {1000 * seconds:6.1f} ms")
    return rows


if __name__ == "__main__":
    main()
