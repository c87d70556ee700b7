"""One prediction with every output the app shows: the model's rollout, GIFs, frame strip, downloads and metrics.

The truth GIF (drawn while the model runs), the panel GIF and the MP4 (an ffmpeg subprocess) are made in encoder
threads beside the main thread's work: Pillow's and ffmpeg's encoders do not hold the GIL. The model's work goes
through `MODEL` (`demo.batcher`): concurrent free-running rollouts run as one `predict_batch`, one model call at a time.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from demo.batcher import Batcher
from demo.best import BEST
from demo.files import FPS, new_stem
from demo.inputs import check_mode
from demo.report import error_curves, metric_table, summarize
from predictor import media, render
from predictor.metrics import ink_kept

log = logging.getLogger("demo.run")
# imageio-ffmpeg starts ffmpeg with preexec_fn=os.setpgrp (so that a terminal's Ctrl-C does not reach it), which makes
# Python fork() the whole server (~1 GB, many threads) holding the GIL: per MP4, 15 ms of the server's CPU and
# 0.2-0.5 s on a loaded machine, against 1-2 ms and 40 ms with the vfork Python uses without it (measured: a process
# holding 1 GB writing ten MP4s). The server needs no Ctrl-C shield for its encoders; "0" in the environment
# restores it.
os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")
_ENCODER = ThreadPoolExecutor(max_workers=6, thread_name_prefix="encode")
MODEL = Batcher()  # every request's model work: batched where it can be, one call at a time


def _progress(progress, fraction: float, desc: str) -> None:
    if progress is not None:
        progress(fraction, desc=desc)


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
    free = MODEL.predict(predictor, context, horizon) if mode != "teacher-forced" else None
    # one_step over context + truth predicts frames 1..T-1; the last `n` of them are the future with truth.
    forced = MODEL.exclusive(predictor.one_step, np.concatenate([context, truth]))[len(context) - 1 :] if (
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
    ink = None if free is None else ink_kept(context / 255.0, free)
    return {"files": files, "table": metric_table(curves), "summary": summarize(curves, n, horizon, timings, ink),
            "prediction": main, "timings": timings}


def _best_or_none(job):
    """The best possible frames of `job` (a future), or None: that line is an extra, so its failure (logged) must
    not cost the visitor the prediction."""
    try:
        return job.result() if job is not None else None
    except Exception:
        log.exception("the best possible prediction failed")
        return None
