"""What the app does, without the UI: choose frames, predict, measure, render, write files.

    from predictor import load_predictor
    from demo import session
    context, truth = session.select_frames("example", example_index=3, context=10, horizon=10)
    result = session.run(load_predictor(), context, truth, horizon=10, mode="both")
    result["files"]["panel"], result["table"], result["summary"], result["timings"]

`app.py` wires these functions to Gradio; tests and scripts call them directly. `get_predictor` accepts
only bundled model names and `hf://owner/repo` ids (never a path on the server; on a public deployment only
the repos `CONVLSTM_ALLOWED_MODELS` names), loads one model at a time and keeps a bounded number of them.
Output files go to one cache folder (`CACHE_DIR`, env `CONVLSTM_APP_CACHE`) that is pruned on every write,
so it stays bounded by age, count and size however long the server runs (Gradio copies what it serves
into its own cache, which `app.py` bounds with `delete_cache`).
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import os
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from predictor import bundled_models, load_predictor, media, render, tables
from predictor.bound import best_frames
from predictor.hub import is_hub_source, parse_hub_id
from predictor.metrics import copy_last_baseline, mse_per_frame, ssim_per_frame
from predictor.moving_mnist import draws, generate, load_examples
from train.export import sequences_seen, training_commands, training_stages

if TYPE_CHECKING:
    import pandas

log = logging.getLogger("demo.session")

MAX_CONTEXT = 50
MAX_HORIZON = 60
MODES = ("free-running", "teacher-forced", "both")
KINDS = ("example", "random", "upload", "compose")
FPS = 5.0
CACHE_DIR = os.environ.get("CONVLSTM_APP_CACHE", os.path.join(tempfile.gettempdir(), "convlstm-app"))
KEEP_SECONDS = 10 * 60  # output files older than this are deleted...
MAX_FILES = 400  # ...and beyond this many (or MAX_CACHE_BYTES) the oldest go first,
MAX_CACHE_BYTES = 200 * 2**20
MIN_AGE = 30  # ...but never a file younger than this: a request may still be handing it to Gradio.
MAX_MODELS = int(os.environ.get("CONVLSTM_MAX_MODELS", 4))  # loaded models kept in memory (the default is one)
# The truth GIF (drawn while the model runs), the panel GIF and the MP4 (an ffmpeg subprocess) are made in
# these threads, beside the main thread's work: Pillow's and ffmpeg's encoders do not hold the GIL.
_ENCODER = ThreadPoolExecutor(max_workers=6, thread_name_prefix="encode")


@functools.lru_cache(maxsize=1)
def examples() -> np.ndarray:
    """Bundled validation sequences `(N, 60, 64, 64) uint8` (read once, read-only)."""
    ex = load_examples()[0]
    ex.flags.writeable = False
    return ex


def thumbnails(frame: int = 9) -> list[np.ndarray]:
    """One `(128, 128) uint8` still per bundled example (frame `frame`, the last default seed frame)."""
    return [np.repeat(np.repeat(s[frame], 2, 0), 2, 1) for s in examples()]


_MODELS: OrderedDict = OrderedDict()  # source -> Predictor, most recently used last
_MODELS_LOCK = threading.Lock()  # guards _MODELS
_LOAD_LOCK = threading.Lock()  # one model load at a time: a burst of Hub ids cannot multiply peak memory
MAX_TOTAL_PARAMS = int(float(os.environ.get("CONVLSTM_MAX_TOTAL_PARAMS", 40_000_000)))  # summed over _MODELS


def allowed_hub_repos() -> list[str] | None:
    """Patterns of the Hub repos this server may load (`CONVLSTM_ALLOWED_MODELS`), None when any may load.

    Comma-separated `owner/repo` patterns with shell wildcards (`me/*,keras-io/conv-lstm`); an empty value or
    `none` allows no Hub model at all. Bundled models are always allowed.
    """
    value = os.environ.get("CONVLSTM_ALLOWED_MODELS")
    if value is None:
        return None
    return [p.strip() for p in value.split(",") if p.strip() and p.strip().lower() != "none"]


def check_source(source) -> str:
    """`source` if it is a bundled model name or a well-formed `hf://owner/repo[/file.keras]` id that
    `CONVLSTM_ALLOWED_MODELS` admits.

    Paths on the server are refused: the app must not load whatever file a request names.
    """
    text = "default" if source is None or (isinstance(source, str) and not source.strip()) else source
    if not isinstance(text, str):
        raise ValueError(f"A model must be a bundled model name or hf://owner/repo. Received: {source!r}")
    text = text.strip()
    if is_hub_source(text):
        repo_id, _ = parse_hub_id(text)  # raises ValueError for '..', '%' escapes, extra '/', bad characters
        allowed = allowed_hub_repos()
        if allowed is not None and not any(fnmatch.fnmatchcase(repo_id, p) for p in allowed):
            raise ValueError(f"This server does not load {repo_id!r}: its operator allows "
                             + (f"only these Hub models: {', '.join(allowed)}" if allowed else "no Hub models")
                             + " (CONVLSTM_ALLOWED_MODELS). The bundled models are always available.")
        return text
    names = bundled_models()
    if text not in names:
        raise ValueError(f"Unknown model {text!r}: choose a bundled model ({', '.join(names)}) or a Hub model "
                         "written hf://owner/repo.")
    return text


def _cached(source):
    with _MODELS_LOCK:
        if source in _MODELS:
            _MODELS.move_to_end(source)
            return _MODELS[source]
    return None


def _keep(source, predictor) -> None:
    """Add `predictor`, then drop the least recently used until MAX_MODELS and MAX_TOTAL_PARAMS hold."""
    with _MODELS_LOCK:
        _MODELS[source] = predictor
        params = lambda: sum(p.model.count_params() for p in _MODELS.values())  # noqa: E731
        while len(_MODELS) > 1 and (len(_MODELS) > MAX_MODELS or params() > MAX_TOTAL_PARAMS):
            _MODELS.popitem(last=False)


def get_predictor(source="default"):
    """The `Predictor` for a bundled name or Hub id (see `check_source`), loaded once and kept.

    The only model cache of the app: at most MAX_MODELS models and MAX_TOTAL_PARAMS parameters, least recently
    used dropped first; loads happen one at a time (each file is checked by `predictor.untrusted` before Keras
    builds it). Raises ValueError with a message for people (bad id, not allowed, not found, no network, unsafe
    or oversized file, wrong shapes).
    """
    source = check_source(source)
    predictor = _cached(source)
    if predictor is not None:
        return predictor
    with _LOAD_LOCK:  # a slow Hub download makes other *new* models wait; cached models keep serving
        predictor = _cached(source)  # loaded by the request we waited for
        if predictor is None:
            # trust_legacy stays False: .h5 / SavedModels are refused. cache=False: _MODELS is the one cache.
            predictor = load_predictor(source, cache=False)
            _keep(source, predictor)
        return predictor


def as_int(value, name: str, lo: int, hi: int) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a whole number. Received: {value!r}") from None
    if v != value and not isinstance(value, str) or not lo <= v <= hi:
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}. Received: {value!r}")
    return v


def select_frames(kind: str, example_index=0, random_seed=0, upload: np.ndarray | None = None, context=10,
                  horizon=10) -> tuple[np.ndarray, np.ndarray]:
    """(context frames `(C, 64, 64) uint8`, true future frames `(<= horizon, 64, 64) uint8`).

    kind "example": bundled validation example `example_index`; "random": a fresh sequence from validation
    digits made from `random_seed` (always long enough); "upload": the frames `upload`, whose ground truth
    may be shorter than the horizon (then the app says so); "compose": the frames made in 'Make your own'
    (`upload` too). Out-of-range values raise ValueError.
    """
    context = as_int(context, "Seed frames", 1, MAX_CONTEXT)
    horizon = as_int(horizon, "Frames to predict", 1, MAX_HORIZON)
    if kind == "example":
        ex = examples()
        seq = ex[as_int(example_index, "Example index", 0, len(ex) - 1)]
    elif kind == "random":
        seq = generate(1, context + horizon, rng=as_int(random_seed, "Random seed", 0, 2**32 - 1), split="val")[0]
    elif kind in ("upload", "compose"):  # frames the visitor brought or made (`upload`)
        if upload is None:
            raise ValueError("Upload a GIF, MP4 or .npy clip first." if kind == "upload" else
                             "Make a sequence first: draw or pick digits in 'Make your own', then press its button.")
        seq = upload
    else:
        raise ValueError(f"Input must be one of {', '.join(KINDS)}. Received: {kind!r}")
    own = kind in ("upload", "compose")  # may end without ground truth; generated ones never do
    if len(seq) < context + (not own):
        what = {"upload": "clip", "compose": "sequence you made"}.get(kind, "example")
        raise ValueError(f"The {what} has {len(seq)} frames, so at most {len(seq) - (not own)} can be "
                         f"seed frames; lower 'Seed frames'. Received: {context} seed frames")
    return seq[:context], seq[context : context + horizon]


@functools.lru_cache(maxsize=1)
def _example_draws() -> tuple:
    """The hidden state behind the bundled examples (they were generated from the seed their file records)."""
    meta = load_examples()[1]
    return draws(len(examples()), rng=meta["seed"], source=meta["source"], split=meta["split"])


BEST = "best possible"  # the run name of `best_possible`'s frames in the plots, the table and the strip


def best_possible(kind: str, example_index=0, random_seed=0, context=10, horizon=10,
                  made: dict | None = None) -> np.ndarray | None:
    """The best prediction `(horizon, 64, 64) float32 in [0, 1]` of a generated input from its first `context`
    frames: what a reader that knows the digits and reads their exact positions in the seed frames predicts
    (`predictor.bound`). Kinds "example" and "random" as `select_frames` picks them (cached), "compose" from `made`
    (`explore.make_sequence`'s frames with their digits and paths); None for uploads, whose hidden paths nobody
    knows. Read-only; takes 0.05-0.3 s (about 1 s with 50 seed frames)."""
    context = as_int(context, "Seed frames", 1, MAX_CONTEXT)
    horizon = as_int(horizon, "Frames to predict", 1, MAX_HORIZON)
    if kind == "compose" and made is not None:
        frames = best_frames(made["digits"], made["start"], made["vel"], context, horizon)
    elif kind in ("example", "random"):
        frames = _generated_best(kind, example_index if kind == "example" else 0,
                                 random_seed if kind == "random" else 0, context, horizon)
    else:
        return None
    frames.flags.writeable = False
    return frames


@functools.lru_cache(maxsize=32)  # each entry is at most 60 frames of 64x64 float32 (1 MB)
def _generated_best(kind: str, example_index, random_seed, context: int, horizon: int) -> np.ndarray:
    if kind == "example":
        index = as_int(example_index, "Example index", 0, len(examples()) - 1)
        digits, start, vel = (a[index] for a in _example_draws())
    else:
        seed = as_int(random_seed, "Random seed", 0, 2**32 - 1)
        digits, start, vel = (a[0] for a in draws(1, rng=seed, split="val"))  # as select_frames draws it
    return best_frames(digits, start, vel, context, horizon)  # cached: shared by every request for this input


def prune(folder: str = CACHE_DIR, now: float | None = None, keep_seconds: float = KEEP_SECONDS,
          max_files: int = MAX_FILES, max_bytes: int = MAX_CACHE_BYTES, min_age: float = MIN_AGE) -> int:
    """Delete files in `folder` older than `keep_seconds`, then the oldest beyond `max_files` files or
    `max_bytes` bytes, never one younger than `min_age` seconds; returns how many were deleted."""
    now = time.time() if now is None else now
    entries = []
    for entry in os.scandir(folder):
        try:
            if entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                entries.append((st.st_mtime, st.st_size, entry.path))
        except OSError:  # deleted meanwhile by another worker
            pass
    entries.sort(reverse=True)  # newest first
    removed, count, total = 0, 0, 0
    for mtime, size, path in entries:
        count, total = count + 1, total + size
        age = now - mtime
        if age > keep_seconds or (age > min_age and (count > max_files or total > max_bytes)):
            try:
                os.remove(path)
                removed += 1
            except OSError:
                pass
    return removed


def new_stem() -> str:
    """A fresh path prefix in CACHE_DIR for one request's files (after pruning the folder)."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    prune()
    return os.path.join(CACHE_DIR, uuid.uuid4().hex[:12])


def preview_upload(frames: np.ndarray) -> str:
    """Path of a GIF of the converted clip, upscaled like the app's other views."""
    frames = np.repeat(np.repeat(frames, render.SCALE, 1), render.SCALE, 2)
    return media.write_gif(frames, new_stem() + "-upload.gif", FPS)


def _progress(progress, fraction: float, desc: str) -> None:
    if progress is not None:
        progress(fraction, desc=desc)


def check_mode(mode: str, horizon, n: int) -> tuple[int, int]:
    """(horizon, n) once `mode` is known and, for teacher-forced mode, the `n` true frames cover the horizon."""
    if mode not in MODES:
        raise ValueError(f"Mode must be one of {', '.join(MODES)}. Received: {mode!r}")
    horizon = as_int(horizon, "Frames to predict", 1, MAX_HORIZON)
    if mode == "teacher-forced" and n < horizon:
        raise ValueError(
            f"Teacher-forced mode predicts each frame from the true frame before it, so it needs ground truth for "
            f"all {horizon} frames; this input has {n} after the seed frames. Lower 'Frames to predict' to {n} or "
            "less, or choose free-running or both." if n else
            "Teacher-forced mode needs ground truth after the seed frames, and this input has none. "
            "Use fewer seed frames or free-running mode.")
    return horizon, n


def run(predictor, context: np.ndarray, truth: np.ndarray, horizon: int, mode: str = "free-running",
        progress=None, best=None) -> dict:
    """Predict `horizon` frames after `context` `(C, 64, 64) uint8` and build every output the app shows.

    `truth` `(<= horizon, 64, 64) uint8` is the ground truth (may be short or empty). Modes: "free-running"
    (the model reads its own predictions), "teacher-forced" (one step ahead from the true previous frame:
    needs truth for all `horizon` frames), "both" (free-running shown; teacher-forced over the frames that
    have truth). Returns {"files": name -> path (truth/prediction/panel GIFs, strip PNG, npy/gif/mp4
    downloads), "table": per-frame metrics, see `metric_table`, "summary": markdown, "prediction":
    `(horizon, 64, 64) float32` in [0, 1], "timings": seconds per stage}. `progress(fraction, desc=...)`
    is called between stages if given. `best`, if given, is a function returning the best possible prediction
    (see `best_possible`; None when there is none), called beside the model; its frames join the plots, the
    table and the strip as "best possible".
    """
    horizon, n = check_mode(mode, horizon, len(truth))
    t = {"start": time.perf_counter()}
    stem = new_stem()
    # The truth GIF does not depend on the model: it is drawn while the model runs.
    truth_gif = _ENCODER.submit(lambda: media.write_gif(render.column_frames(context, truth, horizon, "truth"),
                                                        f"{stem}-truth.gif", FPS, render.PALETTE))
    best_job = _ENCODER.submit(best) if best is not None else None  # numpy, beside the model's TensorFlow
    _progress(progress, 0.05, f"Predicting {horizon} frames")
    free = predictor.predict(context, horizon) if mode != "teacher-forced" else None
    # one_step over context + truth predicts frames 1..T-1; the last `n` of them are the future with truth.
    forced = predictor.one_step(np.concatenate([context, truth]))[len(context) - 1 :] if (
        mode != "free-running" and n) else None
    main = free if free is not None else forced
    t["model"] = time.perf_counter()

    _progress(progress, 0.6, "Drawing GIFs")
    mode_name = "free-running" if free is not None else "teacher-forced"
    mp4 = _ENCODER.submit(media.write_mp4, main, f"{stem}-predicted.mp4", FPS)
    panel = _ENCODER.submit(lambda: media.write_gif(render.panel_frames(context, truth, main), f"{stem}-panel.gif",
                                                    FPS, render.PALETTE))
    files = {
        "truth": None,
        "prediction": media.write_gif(render.column_frames(context, main, horizon, f"prediction ({mode_name})"),
                                      f"{stem}-prediction.gif", FPS, render.PALETTE),
        "panel": None,
    }
    best = _best_or_none(best_job)
    rows = {"truth": truth, "free-running": free, "teacher-forced": forced, BEST: best}
    files["strip"] = render.save_strip({k: v for k, v in rows.items() if v is not None and len(v)}, context[-1],
                                       f"{stem}-strip.png")
    files["npy"] = media.write_npy(main, f"{stem}-predicted.npy")
    files["gif"] = media.write_gif(main, f"{stem}-predicted.gif", FPS)
    t["files"] = time.perf_counter()

    _progress(progress, 0.85, "Measuring errors")
    curves = error_curves(context, truth, {"free-running": free, "teacher-forced": forced, BEST: best})
    t["metrics"] = time.perf_counter()
    files["truth"], files["panel"], files["mp4"] = truth_gif.result(), panel.result(), mp4.result()
    t["end"] = time.perf_counter()
    timings = {"model": t["model"] - t["start"], "files": t["files"] - t["model"], "metrics": t["metrics"] - t["files"],
               "wait": t["end"] - t["metrics"], "total": t["end"] - t["start"]}
    return {"files": files, "table": metric_table(curves), "summary": summarize(curves, n, horizon, timings),
            "prediction": main, "timings": timings}


def _best_or_none(job):
    """The best possible frames of `job` (a future), or None: that line is an extra, so its failure (logged) must
    not cost the visitor the prediction."""
    try:
        return job.result() if job is not None else None
    except Exception:
        log.exception("the best possible prediction failed")
        return None


def error_curves(context: np.ndarray, truth: np.ndarray, runs: dict) -> dict:
    """Run name -> {"mse": (n,), "ssim": (n,)} over the n frames that have truth, with "copy last frame" added.

    `runs` maps names to predictions `(>= n, 64, 64)` in [0, 1] (None: not run); empty without truth.
    """
    n = len(truth)
    if not n:
        return {}
    tf = truth.astype(np.float32) / 255.0
    runs = {**runs, "copy last frame": copy_last_baseline(context.astype(np.float32) / 255.0, n)}
    return {name: {"mse": mse_per_frame(p[:n], tf), "ssim": ssim_per_frame(p[:n], tf)}
            for name, p in runs.items() if p is not None}


def metric_table(curves: dict) -> "pandas.DataFrame":
    """Long table for plotting: columns "frames ahead" (1..n), "run", "MSE", "SSIM"; empty without truth.

    `curves` is run name -> {"mse": (n,), "ssim": (n,)}.
    """
    import pandas as pd

    rows = [(k + 1, name, float(c["mse"][k]), float(c["ssim"][k])) for name, c in curves.items()
            for k in range(len(c["mse"]))]
    return pd.DataFrame(rows, columns=["frames ahead", "run", "MSE", "SSIM"])


def summarize(curves: dict, n: int, horizon: int, timings: dict) -> str:
    """Markdown: mean MSE/SSIM per run over the frames with ground truth, a note if truth is short, timings."""
    if curves:
        text = tables.metrics_table([(name, {k: float(np.mean(v)) for k, v in c.items()}) for name, c in curves.items()],
                                    ("mse", "ssim"), first=f"over {n} predicted frame{'s' * (n != 1)}")
        if n < horizon:
            text += (f"\n\nGround truth exists for {n} of the {horizon} predicted frames; the metrics cover those "
                     f"{n}, and the truth panel says \"no ground truth\" after them.")
    else:
        text = (f"No ground truth follows the seed frames, so there is nothing to compare the {horizon} predicted "
                "frames with.")
    text += ("\n\nMSE: sum of squared pixel errors per 64×64 frame (pixels in [0, 1]); SSIM: structural similarity "
             "(1 = identical). *Copy last frame* simply repeats the last seed frame: a model worth having beats it.")
    if BEST in curves:
        text += (f" *{BEST.capitalize()}* is what a perfect reader of the seed frames would predict: it knows both "
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
        layers = (info.get("config") or {}).get("digit_layers")
        if seen == 0 and len(stages) > 1:  # `python -m train.export`: the same weights, rolled out otherwise
            lines.append("\nIts last stage kept the weights of the one before and changed how it rolls out"
                         + (f": the seed frames are split into up to {layers} digit layers, each rolled out alone"
                            if layers else "") + ".")
        else:
            lines.append(f"\n{'Its last stage trained' if len(stages) > 1 else 'Trained'} on Moving MNIST made "
                         f"from **{tr.get('data', '?')}** training digits"
                         + (f", {seen:,} sequences" if isinstance(seen, int) else "")
                         + (f", {tr['train_minutes']} min" if "train_minutes" in tr else "") + ".")
        if tr.get("data_description"):
            lines.append(f"\nData: {tr['data_description']}.")
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
                     f"{val.get('context', '?')} seed frames, means over frames 1–"
                     f"{val.get('headline', val.get('horizon', '?'))} ahead\n\n"
                     + tables.metrics_table(rows, ("mse", "ssim")))
    else:
        lines.append("\nNo validation metrics in this model's card yet (`python -m train.evaluate --card`).")
    return "\n".join(lines)
