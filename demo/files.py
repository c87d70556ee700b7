"""The app's output folder: one cache folder for every request's files, pruned on every write.

`CACHE_DIR` (env `CONVLSTM_APP_CACHE`, default `$TMPDIR/convlstm-app`) stays bounded by age, count and size however
long the server runs (Gradio copies what it serves into its own cache, which `app.py` bounds with `delete_cache`).
Only the standard library here: tests point `CACHE_DIR` at their `tmp_path` (tests/conftest.py) without loading
TensorFlow.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid

CACHE_DIR = os.environ.get("CONVLSTM_APP_CACHE", os.path.join(tempfile.gettempdir(), "convlstm-app"))
KEEP_SECONDS = 10 * 60  # output files older than this are deleted...
MAX_FILES = 400  # ...and beyond this many (or MAX_CACHE_BYTES) the oldest go first,
MAX_CACHE_BYTES = 200 * 2**20
MIN_AGE = 30  # ...but never a file younger than this: a request may still be handing it to Gradio.
FPS = 5.0  # frames per second of every GIF and MP4 the app writes


def prune(folder: str | None = None, now: float | None = None, keep_seconds: float = KEEP_SECONDS,
          max_files: int = MAX_FILES, max_bytes: int = MAX_CACHE_BYTES, min_age: float = MIN_AGE) -> int:
    """Delete files in `folder` (default `CACHE_DIR`) older than `keep_seconds`, then the oldest beyond `max_files`
    files or `max_bytes` bytes, never one younger than `min_age` seconds; returns how many were deleted.

    Sub-folders and links are left alone; a file another worker deleted meanwhile is skipped.
    """
    folder = CACHE_DIR if folder is None else folder  # read at call time, so a test's CACHE_DIR holds
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
    """A fresh path prefix in `CACHE_DIR` for one request's files (`<CACHE_DIR>/<12 hex>`), after pruning it."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    prune(CACHE_DIR)
    return os.path.join(CACHE_DIR, uuid.uuid4().hex[:12])
