"""The app's report of one prediction: error curves, the metric table the plots read, the summary text, and the
model card as markdown (read with `predictor.card`, never the training package)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from demo.best import BEST
from predictor import tables
from predictor.card import sequences_seen, training_commands, training_data, training_stages
from demo.ssim import ssim_curves
from predictor.metrics import copy_last_baseline, mse_per_frame
from predictor.pixel_rule import RULE_WORDS

if TYPE_CHECKING:
    import pandas


def error_curves(context: np.ndarray, truth: np.ndarray, runs: dict) -> dict:
    """Run name -> {"mse": (n,), "ssim": (n,)} over the n frames that have truth, with the two baselines a prediction
    must beat added: "copy last frame" and "empty frames" (all zero).

    `runs` maps names to predictions `(>= n, 64, 64)` in [0, 1] (None: not run); empty without truth.
    """
    n = len(truth)
    if not n:
        return {}
    tf = truth.astype(np.float32) / 255.0
    runs = {**runs, "copy last frame": copy_last_baseline(context.astype(np.float32) / 255.0, n),
            "empty frames": np.zeros_like(tf)}
    runs = {name: p[:n] for name, p in runs.items() if p is not None}
    ssim = ssim_curves(tf, runs)  # = ssim_per_frame of each run, the truth's share of the work done once
    return {name: {"mse": mse_per_frame(p, tf), "ssim": ssim[name]} for name, p in runs.items()}


def metric_table(curves: dict) -> "pandas.DataFrame":
    """Long table for plotting: columns "frames ahead" (1..n), "run", "MSE", "SSIM"; empty without truth.

    `curves` is run name -> {"mse": (n,), "ssim": (n,)}.
    """
    import pandas as pd

    rows = [(k + 1, name, float(c["mse"][k]), float(c["ssim"][k])) for name, c in curves.items()
            for k in range(len(c["mse"]))]
    return pd.DataFrame(rows, columns=["frames ahead", "run", "MSE", "SSIM"])


INK_WARNING = 0.85  # below this share of the last context frame's ink in the first prediction, the page says so


def summarize(curves: dict, n: int, horizon: int, timings: dict, ink: float | None = None) -> str:
    """Markdown: mean MSE/SSIM per run over the frames with ground truth, a note if truth is short, a warning when
    the free-running prediction dropped ink (`ink`: `predictor.metrics.ink_kept`, None: not measured), timings."""
    text = ""
    if ink is not None and ink < INK_WARNING:
        text = (f"**Ink lost:** one step ahead, the prediction holds {ink:.0%} of the last context frame's ink. Part "
                "of this input is unlike anything the networks learned from (digits moving at up to 4 px/frame), "
                "and they let it fade.\n\n")
    if curves:
        means = [(name, {k: float(np.mean(v)) for k, v in c.items()}) for name, c in curves.items()]
        text += tables.metrics_table(means, ("mse", "ssim"), first=f"over {n} predicted frame{'s' * (n != 1)}")
        if n < horizon:
            text += (f"\n\nGround truth exists for {n} of the {horizon} predicted frames; the metrics cover those "
                     f"{n}, and the truth panel says \"no ground truth\" after them.")
    else:
        text += (f"No ground truth follows the context frames, so there is nothing to compare the {horizon} predicted "
                 "frames with.")
    text += ("\n\nMSE: sum of squared pixel errors per 64×64 frame (pixels in [0, 1]); SSIM: structural similarity "
             "(1 = identical). *Copy last frame* simply repeats the last context frame: a model worth having beats it.")
    if BEST in curves:
        text += (f" *{BEST.capitalize()}* is what a perfect reader of the context frames would predict: it knows both "
                 "digits and reads their exact positions, and averages over every path those positions allow: the "
                 "lowest MSE to expect (where the paths part, it blurs). Only for inputs made here, whose paths are "
                 "known.")
    split = " · ".join(f"{k} {1000 * timings[k]:.0f} ms" for k in ("model", "files", "metrics"))
    return text + f"\n\n<small>Server time: {split}</small>"


def model_markdown(predictor) -> str:
    """The model card as markdown: architecture, parameters, training data and validation metrics."""
    info = predictor.describe()
    params = info.get("parameters")
    head = f"**{info.get('architecture', 'Keras model')}**"
    head += f" · {params:,} parameters" if isinstance(params, int) else ""
    lines = [head + f" · rollout `{info.get('kind', '?')}` · `{os.path.basename(str(info.get('source', '')))}`"]
    tr = info.get("training") or {}
    if tr:
        seen, stages = tr.get("sequences_seen"), training_stages(tr)
        layers = getattr(predictor, "layers", 0)  # a rollout option of the predictor, not in the network
        if seen == 0 and len(stages) > 1:  # `python -m train.export`: the same weights, rolled out otherwise
            lines.append("\nIts last stage kept the weights of the one before and changed how it rolls out"
                         + (f": the context frames are split into up to {layers} digit layers, each rolled out alone"
                            if layers else "") + ".")
        else:
            lines.append(f"\n{'Its last stage trained' if len(stages) > 1 else 'Trained'} on Moving MNIST made "
                         f"from **{tr.get('data', '?')}** training digits"
                         + (f", {seen:,} sequences" if isinstance(seen, int) else "")
                         + (f", {tr['train_minutes']} min" if "train_minutes" in tr else "") + ".")
        data = training_data(tr)
        if data:
            lines.append(f"\nIts last training stage: {data[-1]}.")
    rollout = info.get("rollout") or {}
    rules = rollout.get("expert_rules") or {}
    for name, expert in (rollout.get("expert_training") or {}).items():
        data = training_data(expert)
        how = ("takes the layers whose bounces show its pixel rule, and shares with the model those no bounce tells"
               if name in rules else
               "rolls out the parts it predicts better, judged on their last context frames")
        lines.append(f"\nExpert network `{name}` ({how}); its last training stage: {data[-1] if data else '?'}.")
    own = rollout.get("own_speeds")
    if own and getattr(predictor, "own_speeds", None):
        lines.append(f"\nHand-written routing by speed: a digit layer whose track moves at {own[0]:g}–{own[1]:g} px/frame "
                     "(the model's training speed), or just outside it beside a layer of the same clip that does, "
                     "stays the model's without asking the experts; one moving at other speeds goes to an expert "
                     "network unless the model predicts its last frames clearly better.")
        for name, (low, high) in (rollout.get("expert_speeds") or {}).items():
            lines.append(f"\n`{name}` only takes digit layers moving at {low:g}–{high:g} px/frame (the speeds it was "
                         "trained on), also a rule by hand; below the model's own speeds it needs no better evidence "
                         "than the model's.")
        for name, rule in rules.items():
            lines.append(f"\n`{name}` was trained on digits drawn with {RULE_WORDS.get(rule, rule)} positions: it takes "
                         "the layers at the model's own speeds where their bounces show that rule, also a rule by hand.")
    if getattr(predictor, "tracks", False):
        lines.append("\nHand-written, not learned: a part that is one rigid sprite moving as the Moving MNIST "
                     "generator moves a digit (constant velocity, bounces off the walls, whole-pixel positions) is "
                     "drawn where its possible tracks put it, no network (`predictor.rigid`; where several speeds "
                     "fit its context, it leans to the generator's 3.6 px/frame and to the other digits' speed); the "
                     "networks roll out the rest.")
    if "copy-last" in (rollout.get("experts") or []):
        lines.append("\nAnd `copy-last`, hand-written, not learned: the last context frame held, judged the same way; it "
                     "wins only the parts that stood still, and takes no digit layer whose track moved.")
    if tr:
        if len(stages) > 1:
            lines.append(f"\nIts lineage: {len(stages)} training stages (each warm-started from the one before), "
                         f"{sequences_seen(tr):,} sequences in all.")
        commands = training_commands(tr, with_machines=True)
        if commands:
            lines.append("\n```\n" + "\n".join(commands) + "\n```")
    val = info.get("validation") or {}
    rows = [(label, val[key]["mean"]) for key, label in (("model", "model, free-running"), ("teacher_forced",
            "model, teacher-forced"), ("copy_last", "copy last frame"), ("empty", "empty frames"))
            if isinstance(val.get(key), dict) and "mean" in val[key]]
    if rows:
        lines.append(f"\nValidation: {val.get('sequences', '?')} sequences of unseen digits, "
                     f"{val.get('context', '?')} context frames, means over frames 1–"
                     f"{val.get('headline', val.get('horizon', '?'))} ahead\n\n"
                     + tables.metrics_table(rows, ("mse", "ssim")))
    else:
        lines.append("\nNo validation metrics in this model's card yet (`python -m train.evaluate --card`).")
    return "\n".join(lines)
