"""What the app does, without the UI, under its old single-module names (a facade over the parts below).

    from demo import session
    context, truth = session.select_frames("example", example_index=3, context=10, horizon=10)
    result = session.run(session.get_predictor("default"), context, truth, horizon=10, mode="both")
    result["files"]["panel"], result["table"], result["summary"], result["timings"]

Where each concern lives (import from there in new code):

| module | what |
|---|---|
| `demo.inputs` | parsing what the page / API sends (`ui_int`, the app's one validator), `select_frames`, `check_mode`, examples, thumbnails, upload preview |
| `demo.models` | the allow-list (`check_source`) and the one bounded model cache (`get_predictor`) |
| `demo.best` | the best possible prediction of a generated input |
| `demo.files` | the output folder `CACHE_DIR` (env `CONVLSTM_APP_CACHE`), `prune`, `new_stem` |
| `demo.run` | one prediction with every output built, encoders in threads |
| `demo.report` | error curves, the metric table, the summary text, the model card as markdown |

Module constants re-exported here are copies: to change the model cache's limits or the output folder, set them on
`demo.models` / `demo.files` (tests/conftest.py points `demo.files.CACHE_DIR` at each test's `tmp_path`).
"""

from demo.best import BEST, best_possible
from demo.files import CACHE_DIR, FPS, KEEP_SECONDS, MAX_CACHE_BYTES, MAX_FILES, MIN_AGE, new_stem, prune
from demo.inputs import (KINDS, MAX_CONTEXT, MAX_HORIZON, MODES, check_mode, examples, parse_context, parse_horizon,
                         preview_upload, select_frames, thumbnails, ui_int)
from demo.models import MAX_MODELS, MAX_TOTAL_PARAMS, allowed_hub_repos, check_source, get_predictor
from demo.report import error_curves, metric_table, model_markdown, summarize
from demo.run import run

as_int = ui_int  # the old name

__all__ = ["BEST", "CACHE_DIR", "FPS", "KEEP_SECONDS", "KINDS", "MAX_CACHE_BYTES", "MAX_CONTEXT", "MAX_FILES",
           "MAX_HORIZON", "MAX_MODELS", "MAX_TOTAL_PARAMS", "MIN_AGE", "MODES", "allowed_hub_repos", "as_int",
           "best_possible", "check_mode", "check_source", "error_curves", "examples", "get_predictor", "metric_table",
           "model_markdown", "new_stem", "parse_context", "parse_horizon", "preview_upload", "prune", "run",
           "select_frames", "summarize", "thumbnails", "ui_int"]
