"""Reading clips (GIF, MP4, .npy) into 64x64 grey frames, and writing GIF / MP4 / .npy files.

    frames = read_clip("clip.gif")            # (T, 64, 64) uint8, 2 <= T <= MAX_FRAMES, or ValueError
    write_gif(frames, "out.gif", fps=5)       # looping GIF
    write_mp4(frames, "out.mp4", fps=5)       # H.264, upscaled 4x so players show it at a usable size

Uploads are untrusted. Limits are checked before anything is decoded into memory: the file size first,
then the header (GIF logical screen, video stream size and frame-count estimate, `.npy` shape and dtype),
and frames are then decoded one at a time, each shrunk to 64x64 at once, stopping as soon as a limit is
passed. `.npy` files are read with `allow_pickle=False`: a pickle is refused, never unpickled. Colour and
alpha frames are converted (alpha composited over black, the Moving MNIST background), not refused.
Every problem is a `ValueError` whose message a person can act on.
"""

from __future__ import annotations

import os

import imageio.v3 as iio
import numpy as np
from PIL import GifImagePlugin, Image

MAX_BYTES = 20 * 1024 * 1024  # upload size limit; the app also passes it to gradio's max_file_size
MAX_FRAMES = 300  # longest clip accepted (the app uses at most 50 seed + 60 true frames)
MAX_SIDE = 1024  # largest frame side accepted, in pixels
MIN_FRAMES = 2  # one frame shows no motion
VIDEO_EXTS = (".mp4", ".webm", ".avi", ".mov", ".mkv")
EXTS = (".gif", ".npy") + VIDEO_EXTS
GREY = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 luma, what PIL's convert("L") uses


def to_grey64(frame: np.ndarray) -> np.ndarray:
    """One frame `(H, W)`, `(H, W, 1|3|4)`, uint8 in [0, 255] -> `(64, 64) uint8`.

    Non-square frames are padded with black to a square first, so digits keep their shape.
    """
    f = np.asarray(frame, np.float32)
    if f.ndim == 3 and f.shape[-1] == 4:  # composite over black: transparent pixels are background
        f = f[..., :3] * (f[..., 3:] / 255.0)
    if f.ndim == 3 and f.shape[-1] == 3:
        f = f @ GREY
    elif f.ndim == 3 and f.shape[-1] == 1:
        f = f[..., 0]
    if f.ndim != 2 or min(f.shape) < 1:
        raise ValueError(f"Each frame must be grey, RGB or RGBA. Received a frame of shape {np.shape(frame)}")
    h, w = f.shape
    if h != w:
        side = max(h, w)
        square = np.zeros((side, side), np.float32)
        square[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = f
        f = square
    if f.shape != (64, 64):
        # BOX averages every source pixel when shrinking (no aliasing) and is fast; BILINEAR when growing.
        method = Image.Resampling.BOX if f.shape[0] > 64 else Image.Resampling.BILINEAR
        f = np.asarray(Image.fromarray(f, mode="F").resize((64, 64), method))
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)


def _check_file(path: str) -> str:
    """Extension of an existing, non-empty upload within MAX_BYTES; ValueError otherwise."""
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


def _check_size(width: int, height: int) -> None:
    if max(width, height) > MAX_SIDE:
        raise ValueError(f"Frames of {width}x{height} pixels are too large; the limit is {MAX_SIDE}x{MAX_SIDE}. "
                         "Shrink the clip first.")


def _too_long() -> ValueError:
    return ValueError(f"The clip has more than {MAX_FRAMES} frames, the limit; trim it to at most {MAX_FRAMES} first.")


def _npy_header(path: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) from a `.npy` header, without reading the data; ValueError for anything else."""
    from numpy.lib import format as npy_format

    try:
        with open(path, "rb") as f:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
    except Exception as e:  # not a .npy at all, a .npz renamed, a truncated header: one message for people
        raise ValueError(f"This is not a readable .npy file ({str(e).rstrip('.') or type(e).__name__}). "
                         "Save one array with np.save.") from e
    return shape, dtype


def _read_npy(path: str) -> np.ndarray:
    shape, dtype = _npy_header(path)  # shape and dtype are checked before any data is read
    if dtype.hasobject:
        raise ValueError("This .npy file holds pickled Python objects, which are never loaded here; "
                         "save a plain numeric array with np.save.")
    if not (len(shape) == 3 or (len(shape) == 4 and shape[-1] in (1, 3, 4))):
        raise ValueError(f"A .npy clip must have shape (T, H, W) or (T, H, W, 1|3|4). Received: shape={shape}")
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating) or dtype.kind == "b"):
        raise ValueError(f"A .npy clip must hold real numbers (integers, floats or booleans). Received: dtype={dtype}")
    _check_size(shape[2], shape[1])
    if shape[0] > MAX_FRAMES:
        raise _too_long()
    try:  # within the limits: now it may be read (never unpickled); at most MAX_BYTES of data
        arr = np.load(path, allow_pickle=False)
    except Exception as e:  # the data is shorter than the header says
        raise ValueError(f"This .npy file is damaged or truncated ({str(e).rstrip('.') or type(e).__name__}).") from e
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError("The .npy clip contains NaN or infinite values.")
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if lo < 0 or hi > 255:
            raise ValueError("A float .npy clip must hold values in [0, 1] or [0, 255]. "
                             f"Received: range [{lo:.3g}, {hi:.3g}]")
        scale = 255.0 if hi <= 1.0 else 1.0  # [0, 1] is the predictor's convention
    elif arr.dtype.kind == "b":
        scale = 255.0
    else:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError("An integer .npy clip must hold values in [0, 255]. "
                             f"Received: range [{arr.min()}, {arr.max()}]")
        scale = 1.0
    if not arr.size or min(arr.shape[1:3]) < 1:
        return np.zeros((0, 64, 64), np.uint8)
    return np.stack([to_grey64(f.astype(np.float32) * scale) for f in arr])  # one frame at a time


def _read_gif(path: str) -> np.ndarray:
    with open(path, "rb") as f:
        magic = f.read(6)
        f.seek(-1, os.SEEK_END)
        complete = f.read(1) == b";"  # a complete GIF ends with its trailer byte ';' (0x3B)
    if magic in (b"GIF87a", b"GIF89a") and not complete:
        raise ValueError("This GIF is truncated (it does not end with the GIF trailer): upload the whole file.")
    try:
        im = Image.open(path)  # reads the header only: format and logical screen size
    except Image.DecompressionBombError as e:
        raise ValueError(f"The GIF's frames are far too large; the limit is {MAX_SIDE}x{MAX_SIDE} pixels.") from e
    except Exception as e:
        what = "This GIF is damaged" if magic in (b"GIF87a", b"GIF89a") else "This file could not be read as a GIF"
        raise ValueError(f"{what} ({type(e).__name__}). Is it really a complete GIF?") from e
    frames = []
    with im:
        if im.format != "GIF":
            raise ValueError(f"This file is named .gif but is a {im.format} image.")
        try:
            while True:
                # A frame may extend the canvas: Pillow grows `size` when it reads the frame's descriptor in
                # seek(), before decoding it, so the size is checked before any pixel of the frame is decoded.
                _check_size(*im.size)
                if len(frames) >= MAX_FRAMES:
                    raise _too_long()
                frames.append(to_grey64(np.asarray(im.convert("RGBA"))))  # one frame decoded at a time
                try:
                    im.seek(im.tell() + 1)
                except EOFError:
                    break
        except ValueError:
            raise
        except Exception as e:  # a truncated GIF fails part-way, with one of several exception types
            raise ValueError(f"This GIF is damaged or truncated ({type(e).__name__}) after {len(frames)} frames."
                             ) from e
    return np.stack(frames) if frames else np.zeros((0, 64, 64), np.uint8)


def _read_video(path: str) -> np.ndarray:
    import imageio_ffmpeg

    frames, gen = [], None
    try:
        gen = imageio_ffmpeg.read_frames(path, pix_fmt="gray", bpp=1)  # ffmpeg converts to grey as it decodes
        meta = next(gen)  # stream header: size, fps and duration, before any frame is decoded
        w, h = meta["size"]
        _check_size(w, h)
        if meta.get("fps") and meta.get("duration") and meta["fps"] * meta["duration"] > MAX_FRAMES + 1:
            raise _too_long()
        for raw in gen:
            if len(frames) >= MAX_FRAMES:
                raise _too_long()
            frames.append(to_grey64(np.frombuffer(raw, np.uint8).reshape(h, w)))
    except ValueError:
        raise
    except Exception as e:  # ffmpeg reports a broken file as OSError/RuntimeError/StopIteration
        raise ValueError(f"This file could not be decoded as a video ({type(e).__name__}). "
                         "Is it a complete MP4/WebM file?") from e
    finally:
        if gen is not None:
            gen.close()  # stops the ffmpeg process when we stop early
    return np.stack(frames) if frames else np.zeros((0, 64, 64), np.uint8)


def read_clip(path: str) -> np.ndarray:
    """Uploaded GIF / MP4 (WebM, AVI, MOV, MKV) / .npy -> `(T, 64, 64) uint8`, MIN_FRAMES <= T <= MAX_FRAMES.

    Raises ValueError, with a message for people, for anything else.
    """
    ext = _check_file(path)
    frames = _read_npy(path) if ext == ".npy" else _read_gif(path) if ext == ".gif" else _read_video(path)
    if len(frames) < MIN_FRAMES:
        raise ValueError(f"The clip has {len(frames)} frame{'s' * (len(frames) != 1)}; at least {MIN_FRAMES} "
                         "are needed to show motion.")
    return frames


def as_uint8(frames) -> np.ndarray:
    """Frames as uint8: uint8 is kept, floats in [0, 1] are scaled and rounded."""
    frames = np.asarray(frames)
    return frames if frames.dtype == np.uint8 else (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)


def write_gif(frames, path: str, fps: float = 5.0, palette: np.ndarray | None = None) -> str:
    """`(T, H, W)` grey or `(T, H, W, 3)` RGB (uint8, or float in [0, 1]) -> looping GIF at `path`; returns `path`.

    With `palette` (`(256, 3) uint8`), `frames` are palette indices: no colour quantization is needed,
    which is what keeps writing a colour GIF fast (see `predictor.render`), and every frame uses the one global
    colour table (`_write_indexed_gif`). Identical consecutive frames are stored as one frame shown that much
    longer: playback is the same, the frame count smaller.
    """
    frames = as_uint8(frames)
    if palette is not None:
        if frames.ndim != 3 or np.shape(palette) != (256, 3):
            raise ValueError("With a palette, frames must be (T, H, W) palette indices and the palette (256, 3). "
                             f"Received: frames {frames.shape}, palette {np.shape(palette)}")
        _write_indexed_gif(frames, path, round(1000 / fps), palette)
        return path
    if frames.ndim == 4 and frames.shape[-1] == 3 and palette is None:  # RGB: one palette for all frames,
        sample = np.concatenate([f[::4, ::4] for f in frames])  # made from a sample of every frame
        shared = Image.fromarray(sample).quantize(256, method=Image.Quantize.MEDIANCUT)
        images = [Image.fromarray(f).quantize(palette=shared, dither=Image.Dither.NONE) for f in frames]
    else:
        images = [Image.fromarray(f, mode="L") for f in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps),
                   loop=0, optimize=False, disposal=1)
    return path


def _write_indexed_gif(frames: np.ndarray, path: str, duration: int, palette: np.ndarray) -> None:
    """`frames` `(T, H, W) uint8` indices into `palette` `(256, 3) uint8` -> a looping GIF at `path`, each frame
    shown `duration` ms, written as Pillow's `save_all` writes it (each frame after the first cropped to the box that
    changed since the previous one; a frame equal to it lengthens that one) but without the 768-byte local colour
    table Pillow gives each cropped frame when it is not told they all share one: here every frame uses the
    global table. The same pixels, 10-20 % fewer bytes to write, hash, serve and fetch (e.g. a 20-frame column
    of the app 79 -> 64 kB), and less CPU than `save_all` (no per-frame copies and palette checks)."""
    colours = palette.astype(np.uint8).tobytes()

    def image(indices):
        im = Image.fromarray(np.ascontiguousarray(indices), mode="P")
        im.putpalette(colours)
        return im

    shown = [[0, None, duration]]  # per frame written: its index, the box it changed (None: whole), its duration
    for k in range(1, len(frames)):
        changed = frames[k] != frames[shown[-1][0]]
        rows = np.flatnonzero(changed.any(axis=1))
        if not len(rows):  # the same picture: shown longer
            shown[-1][2] += duration
            continue
        cols = np.flatnonzero(changed.any(axis=0))
        shown.append([k, (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1), duration])
    first = image(frames[0])
    # Pillow's own GIF blocks (its documented legacy helpers): the header with the global colour table and the
    # loop, then per frame its delay, position and LZW data.
    header, _ = GifImagePlugin.getheader(first, None, {"loop": 0, "duration": duration})
    with open(path, "wb") as f:
        f.write(b"".join(header))
        for k, box, ms in shown:
            im, offset = (first, (0, 0)) if box is None else (image(frames[k, box[1] : box[3], box[0] : box[2]]),
                                                             box[:2])
            f.write(b"".join(GifImagePlugin.getdata(im, offset, duration=ms, disposal=1)))
        f.write(b";")  # the GIF trailer


def write_mp4(frames, path: str, fps: float = 5.0, scale: int = 4) -> str:
    """`(T, 64, 64)` frames -> H.264 MP4 at `path`, upscaled `scale`x (nearest); returns `path`."""
    f = as_uint8(frames)
    f = np.repeat(np.repeat(f, scale, axis=1), scale, axis=2)
    # x264's "ultrafast" preset, one thread: for ten 256x256 frames, 26 ms of CPU instead of the default's 62 ms
    # (ffmpeg included; the app writes one per prediction); files stay a few kB (up to 2x the default's).
    iio.imwrite(path, f, extension=".mp4", fps=fps, codec="libx264", macro_block_size=16,
                output_params=["-preset", "ultrafast", "-threads", "1"])
    return path


def write_npy(frames, path: str) -> str:
    """Frames -> `.npy` of `(T, 64, 64) float32` in [0, 1] (the predictor's output convention)."""
    f = np.asarray(frames)
    np.save(path, f.astype(np.float32) / 255.0 if f.dtype == np.uint8 else f.astype(np.float32))
    return path
