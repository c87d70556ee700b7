"""Training speed: sequences per second of one training step for a recipe, on this machine.

    python -m train.bench --motion-features 16 --free-running 1 --seq-len 30   # the bundled model's recipe, batch 4
    python -m train.bench --motion-features 16 --precision mixed_bfloat16 --batch-size 8
    python -m train.bench --free-running 0 --steps 10                          # teacher-forced

Takes every flag of `python -m train` and builds and compiles the model as it does, runs `--warmup` steps, then
times `--steps` `train_on_batch` calls on fresh generated batches and prints the median (and the spread) in
sequences/s.
Measure with nothing else running: both cores are shared. On a GPU machine: `KERAS_BACKEND=jax python -m train.bench`.
"""

from __future__ import annotations

import argparse
import statistics
import time


def parse_args(argv=None):
    from train.config import add_flags

    p = argparse.ArgumentParser(prog="python -m train.bench", description=__doc__.split("\n")[0])
    add_flags(p)  # the recipe: every flag of `python -m train` (how long and where to write do not matter here)
    p.add_argument("--jit", action="store_true", help="compile the step with XLA (jit_compile=True)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=8)
    args = p.parse_args(argv)
    if args.warmup < 0 or args.steps < 1:
        p.error(f"--warmup must be >= 0 and --steps >= 1. Received: {args.warmup}, {args.steps}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    import keras

    from train.__main__ import new_run
    from train.checkpoint import machine
    from train.data import SequenceBatches

    cfg, model, _ = new_run(args, argv, strategy=None)  # built and compiled as `python -m train` does
    if args.jit:
        model.jit_compile = True
    batches = SequenceBatches(cfg.batch_size * (args.warmup + args.steps), cfg.batch_size, cfg.seq_len, seed=0,
                              drop_last_input=cfg.preset != "streaming")
    rates = []
    for i in range(args.warmup + args.steps):
        x, y = batches[i]
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        if i >= args.warmup:
            rates.append(cfg.batch_size / (time.perf_counter() - t0))
    keras.config.set_dtype_policy("float32")
    result = {"median": statistics.median(rates), "min": min(rates), "max": max(rates), "steps": len(rates),
              "parameters": model.count_params(), "machine": machine()}
    m = cfg.model
    print(f"{cfg.preset} (motion features {m.motion_features}, free-running {int(m.free_running)}), batch "
          f"{cfg.batch_size}, {cfg.seq_len} frames, {cfg.precision}{' + XLA' if args.jit else ''}: "
          f"{result['median']:.2f} sequences/s (median of {len(rates)} steps; {result['min']:.2f}-"
          f"{result['max']:.2f}), {result['parameters']:,} parameters, {result['machine']}")
    return result


if __name__ == "__main__":
    main()
