"""One way to write metric tables (Markdown), used by the app, the model cards, the Hub card and the report.

    metrics_table([("model, free-running", {"mse": 77.6, "ssim": 0.83})], ("mse", "ssim"), first="prediction")
"""

from __future__ import annotations

HEADERS = {"mse": "MSE per frame ↓", "mae": "MAE per frame ↓", "ssim": "SSIM ↑", "psnr": "PSNR ↑"}
FORMATS = {"mse": ".1f", "mae": ".1f", "ssim": ".3f", "psnr": ".2f"}


def fmt(value, spec: str) -> str:
    """`value` formatted with `spec`; "–" when it is missing (None or NaN)."""
    return "–" if value is None or value != value else format(value, spec)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: first column left-aligned, the others (numbers) right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def metrics_table(rows: list[tuple[str, dict]], metrics=("mse", "mae", "ssim", "psnr"), first: str = "") -> str:
    """Rows of (label, {metric: value}) as a table with the project's metric headers and precisions."""
    return markdown_table([first] + [HEADERS[m] for m in metrics],
                          [[label] + [fmt(values.get(m), FORMATS[m]) for m in metrics] for label, values in rows])
