"""Reading clips (GIF, MP4, .npy) into 64x64 grey frames, and writing GIF/MP4/.npy.

Uploads are untrusted: size, frame count and resolution limits are checked before everything is
decoded (file size first, then frame by frame), `.npy` files are read with `allow_pickle=False`, and
every problem is a `ValueError` with a message a person can act on.
"""

from __future__ import annotations

import os

import imageio.v3 as iio
import numpy as np
from skimage.transform import resize

MAX_BYTES = 20 * 1024 * 1024  # 20 MB
MAX_FRAMES = 300
MAX_SIDE = 1024  # pixels, per frame side
MIN_FRAMES = 2
VIDEO_EXTS = (".gif", ".mp4", ".webm", ".avi", ".mov")
EXTS = VIDEO_EXTS + (".npy",)


def to_grey64(frame: np.ndarray) -> np.ndarray:
    """One frame `(H, W)`, `(H, W, 3)` or `(H, W, 4)` of any dtype -> `(64, 64) uint8`."""
    f = np.asarray(frame)
    if f.dtype != np.uint8:
        f = np.clip(f.astype(np.float32) * (255.0 if f.max() <= 1.0 else 1.0), 0, 255)
    f = f.astype(np.float32)
    if f.ndim == 3 and f.shape[-1] == 4:  # alpha: composite over the black Moving MNIST background
        f = f[..., :3] * (f[..., 3:] / 255.0)
    if f.ndim == 3 and f.shape[-1] == 3:
        f = f @ np.array([0.299, 0.587, 0.114], np.float32)
    elif f.ndim == 3 and f.shape[-1] == 1:
        f = f[..., 0]
    if f.ndim != 2:
        raise ValueError(f"Each frame must be grey, RGB or RGBA. Received a frame of shape {np.shape(frame)}")
    if f.shape != (64, 64):
        f = resize(f, (64, 64), anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)


def _check_file(path: str) -> str:
    if not path or not os.path.isfile(path):
        raise ValueError("No file was uploaded.")
    ext = os.path.splitext(path)[1].lower()
    if ext not in EXTS:
        raise ValueError(f"Unsupported file type {ext or '(none)'!r}: upload a GIF, MP4 or .npy clip.")
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError("The uploaded file is empty.")
    if size > MAX_BYTES:
        raise ValueError(f"The file is {size / 2**20:.1f} MB; the limit is {MAX_BYTES / 2**20:.0f} MB.")
    return ext


def _read_npy(path: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as e:
        raise ValueError(f"This .npy file cannot be read safely (object/pickled arrays are refused): {e}") from e
    except Exception as e:
        raise ValueError(f"This is not a readable .npy file: {e}") from e
    if arr.ndim == 4 and arr.shape[-1] in (1, 3, 4):
        pass
    elif arr.ndim != 3:
        raise ValueError(f"A .npy clip must be (T, H, W) or (T, H, W, C). Received shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating) or arr.dtype == bool):
        raise ValueError(f"A .npy clip must hold numbers. Received dtype {arr.dtype}")
    if max(arr.shape[1:3]) > MAX_SIDE or arr.shape[0] > MAX_FRAMES:
        raise ValueError(f"The clip is {arr.shape}; limits: {MAX_FRAMES} frames of at most {MAX_SIDE}x{MAX_SIDE}.")
    arr = np.asarray(arr)
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError("The .npy clip contains NaN or infinite values.")
    if np.issubdtype(arr.dtype, np.floating) and (arr.min() < 0 or arr.max() > 255):
        raise ValueError("A float .npy clip must hold values in [0, 1] or [0, 255].")
    scale_float = np.issubdtype(arr.dtype, np.floating) and arr.max() <= 1.0
    arr = arr * 255.0 if scale_float else arr
    return np.stack([to_grey64(np.clip(f, 0, 255).astype(np.uint8)) for f in arr])


def _read_video(path: str) -> np.ndarray:
    frames = []
    try:
        for frame in iio.imiter(path):
            if max(frame.shape[:2]) > MAX_SIDE:
                raise ValueError(f"Frames of {frame.shape[1]}x{frame.shape[0]} are too large; the limit is {MAX_SIDE}x{MAX_SIDE}.")
            if len(frames) >= MAX_FRAMES:
                raise ValueError(f"The clip has more than {MAX_FRAMES} frames; trim it first.")
            frames.append(to_grey64(frame))
    except ValueError:
        raise
    except Exception as e:  # imageio raises many types for a broken file; the user needs one message
        raise ValueError(f"This file could not be decoded as a video or GIF ({type(e).__name__}).") from e
    if not frames:
        raise ValueError("The clip has no frames.")
    return np.stack(frames)


def read_clip(path: str) -> np.ndarray:
    """Uploaded GIF/MP4/.npy -> `(T, 64, 64) uint8`, T in [2, MAX_FRAMES]; ValueError otherwise."""
    ext = _check_file(path)
    frames = _read_npy(path) if ext == ".npy" else _read_video(path)
    if len(frames) < MIN_FRAMES:
        raise ValueError(f"The clip has {len(frames)} frame; at least {MIN_FRAMES} are needed to predict motion.")
    return frames


def as_uint8(frames: np.ndarray) -> np.ndarray:
    """Frames in [0, 1] float or uint8 -> uint8."""
    frames = np.asarray(frames)
    return frames if frames.dtype == np.uint8 else (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)


def write_gif(frames: np.ndarray, path: str, fps: float = 5.0) -> str:
    """`(T, H, W)` or `(T, H, W, 3)` (uint8 or float in [0, 1]) -> looping GIF at `path`."""
    iio.imwrite(path, as_uint8(frames), extension=".gif", duration=1000.0 / fps, loop=0)
    return path


def write_mp4(frames: np.ndarray, path: str, fps: float = 5.0, scale: int = 4) -> str:
    """`(T, 64, 64)` frames -> H.264 MP4, upscaled `scale`x (nearest) so players show them at a usable size."""
    f = as_uint8(frames)
    f = np.repeat(np.repeat(f, scale, axis=1), scale, axis=2)
    iio.imwrite(path, f, extension=".mp4", fps=fps, codec="libx264", macro_block_size=16)
    return path
