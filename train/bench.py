"""Training speed: sequences per second of one training step for a recipe, on this machine.

    python -m train.bench                                       # the bundled model's recipe: streaming, batch 4
    python -m train.bench --motion-features 16 --precision mixed_bfloat16 --batch-size 8
    python -m train.bench --free-running 1 --steps 10

Builds the model as `python -m train` does (same options), runs `--warmup` steps, then times `--steps`
`train_on_batch` calls on fresh generated batches and prints the median (and the spread) in sequences/s.
Measure with nothing else running: both cores are shared. On a GPU machine: `KERAS_BACKEND=jax python -m train.bench`.
"""

from __future__ import annotations

import argparse
import statistics
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m train.bench", description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=("streaming", "seed"), default="streaming")
    p.add_argument("--filters", type=int, nargs="+", default=[32, 32])
    p.add_argument("--kernel-size", type=int, default=5)
    p.add_argument("--motion-features", type=int, default=0)
    p.add_argument("--free-running", type=int, choices=[0, 1], default=0,
                   help="1: the step trains on its own rollouts after 10 frames (as --free-running 1 trains)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=20)
    p.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32",
                   help="Keras dtype policy during the step (the exported model is always float32)")
    p.add_argument("--jit", action="store_true", help="compile the step with XLA (jit_compile=True)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=8)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import keras

    from predictor.models import build_model
    from train.__main__ import compile_model
    from train.checkpoint import machine
    from train.data import SequenceBatches

    keras.config.set_dtype_policy(args.precision)
    kwargs = ({"filters": args.filters, "kernel_size": args.kernel_size, "motion_features": args.motion_features,
               "free_running": bool(args.free_running)} if args.preset == "streaming" else {})
    model = build_model(args.preset, **kwargs)
    compile_model(model, args.preset, 1e-3, args.seq_len - 10)
    if args.jit:
        model.jit_compile = True
    batches = SequenceBatches(args.batch_size * (args.warmup + args.steps), args.batch_size, args.seq_len, seed=0,
                              drop_last_input=args.preset == "seed")
    rates = []
    for i in range(args.warmup + args.steps):
        x, y = batches[i]
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        if i >= args.warmup:
            rates.append(args.batch_size / (time.perf_counter() - t0))
    keras.config.set_dtype_policy("float32")
    result = {"median": statistics.median(rates), "min": min(rates), "max": max(rates), "steps": len(rates),
              "parameters": model.count_params(), "machine": machine()}
    print(f"{args.preset} (motion features {args.motion_features}, free-running {args.free_running}), "
          f"batch {args.batch_size}, {args.seq_len} frames, {args.precision}{' + XLA' if args.jit else ''}: "
          f"{result['median']:.2f} sequences/s (median of {len(rates)} steps; {result['min']:.2f}-"
          f"{result['max']:.2f}), {result['parameters']:,} parameters, {result['machine']}")
    return result


if __name__ == "__main__":
    main()
