"""Plot the per-step curves of `python -m train.evaluate --json` reports side by side (MSE and SSIM per frame ahead).

    python -m train.curves default=out/eval-default.json previous=out/eval-previous.json --out docs/curves.png

Each report's free-running model is drawn as a line (a report of `python -m tools.bound --json`, the best prediction
the context allows, dash-dotted); the copy-last and empty-frame baselines of the first report (the same sequences,
if the reports used the same --sequences/--seed) as dashed grey lines.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main(argv=None) -> str:
    p = argparse.ArgumentParser(prog="python -m train.curves", description=__doc__.split("\n")[0])
    p.add_argument("reports", nargs="+", metavar="NAME=EVAL.json")
    p.add_argument("--out", required=True, help="PNG to write")
    args = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {}
    for item in args.reports:
        name, _, path = item.partition("=")
        with open(path) as f:
            runs[name] = json.load(f)
    first = next(iter(runs.values()))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, metric, label in zip(axes, ("mse", "ssim"), ("MSE per frame (lower is better)", "SSIM (higher is better)")):
        for name, rep in runs.items():
            curve = rep["model"]["per_step"][metric]
            legend = rep.get("label", f"{name} (free-running)")  # e.g. tools.bound's: not a model
            ax.plot(np.arange(1, len(curve) + 1), curve, label=legend, lw=2, ls="-." if "label" in rep else "-")
        for key, style in (("copy_last", ":"), ("empty", "--")):
            curve = first[key]["per_step"][metric]
            ax.plot(np.arange(1, len(curve) + 1), curve, color="#888888", ls=style, label=key.replace("_", " "))
        ax.axvspan(21, 30, color="#f4d03f", alpha=0.15, lw=0)
        ax.set(xlabel="frames ahead", title=label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"{first['sequences']} validation sequences, {first['context']} seed frames "
                 f"(seed {first['seed']}); shaded: frames 21-30", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"Wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
