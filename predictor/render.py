"""Pictures for people: the labelled truth | prediction | |error| panel, single labelled columns, frame strips.

    frames = panel_frames(context, truth, pred)      # (C + H, 324, 830) uint8 palette indices
    write_gif(frames, "panel.gif", palette=PALETTE)  # predictor.media.write_gif
    tile_frames(context, truth, horizon)             # one column's tiles: (C + horizon, 266, 266)
    column_frames(context, truth, horizon, "truth")  # the truth (or prediction) alone, labelled, same marking
    save_strip({"truth": truth, "free-running": pred}, context[-1], "strip.png")

Frames in are `(T, 64, 64)` uint8 or float in [0, 1]; everything is upscaled `SCALE`x (nearest) so the
64x64 frames are comfortable to see. Context (seed) frames get a blue border, predicted frames an orange
one, so the moment the model starts imagining is visible at a glance; a footer counts frames.

The GIF frames are drawn directly as indices into one fixed 256-colour `PALETTE` (grey ramp, error heat
ramp, marker colours): a GIF needs palette images, and quantizing RGB frames would cost more than the
model itself.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from predictor.media import as_uint8

SCALE = 4  # 64 px -> 256 px tiles
BORDER = 5
GAP = 8
HEADER = 28
FOOTER = 30
BG = 18  # background grey level
CONTEXT, PREDICTED, MISSING = 240, 241, 242  # palette indices of the marker colours
CONTEXT_RGB, PREDICTED_RGB, MISSING_RGB = (66, 133, 244), (255, 145, 30), (85, 85, 85)
_GREYS, _HEATS = 120, 120  # palette: [0, 120) grey ramp, [120, 240) heat ramp, then markers


def _palette() -> np.ndarray:
    p = np.zeros((256, 3), np.uint8)
    p[:_GREYS] = np.round(np.linspace(0, 255, _GREYS))[:, None]
    e = np.linspace(0, 1, _HEATS)  # |error| black -> red -> yellow
    p[_GREYS : _GREYS + _HEATS] = np.round(np.stack([np.clip(2 * e, 0, 1), np.clip(2 * e - 1, 0, 1), 0 * e], 1) * 255)
    p[[CONTEXT, PREDICTED, MISSING]] = CONTEXT_RGB, PREDICTED_RGB, MISSING_RGB
    return p


PALETTE = _palette()
GREY_INDEX = np.round(np.arange(256) * (_GREYS - 1) / 255).astype(np.uint8)  # grey value -> palette index
HEAT_INDEX = (_GREYS + np.round(np.arange(256) * (_HEATS - 1) / 255)).astype(np.uint8)  # |error| -> index
TILE = 64 * SCALE + 2 * BORDER


@functools.lru_cache(maxsize=4)
def _font(size: int = 14):
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:  # no DejaVu installed: still readable
        return ImageFont.load_default()


def _text(width: int, height: int, items: list[tuple[int, str]], align: str = "left") -> np.ndarray:
    """Grey-ramp indices `(height, width)` with antialiased light text at x offsets (centred if align)."""
    return _text_cached(width, height, tuple(items), align).copy()


@functools.lru_cache(maxsize=512)
def _text_cached(width: int, height: int, items: tuple, align: str) -> np.ndarray:
    # Drawing text is most of the panel's cost; labels repeat across requests ("frame 3/20"), so cache them.
    im = Image.new("L", (width, height), BG)
    d, font = ImageDraw.Draw(im), _font()
    for x, s in items:
        if align == "center":
            x -= int(d.textlength(s, font=font)) // 2
        d.text((x, height // 2), s, fill=235, font=font, anchor="lm")
    out = GREY_INDEX[np.asarray(im)]
    out.flags.writeable = False
    return out


def _tiles(indices: np.ndarray, markers) -> np.ndarray:
    """`(N, 64, 64)` palette indices -> `(N, TILE, TILE)`, each upscaled inside its `markers[i]` border (one number
    or N). All N at once: the columns repeated, then each wide row written SCALE times through a view of the output."""
    out = np.empty((len(indices), TILE, TILE), np.uint8)
    out[...] = np.asarray(markers, np.uint8).reshape(-1, 1, 1)
    inner = out[:, BORDER:-BORDER, BORDER:-BORDER].reshape(len(indices), 64, SCALE, 64 * SCALE)  # a view
    inner[...] = np.repeat(indices, SCALE, axis=2)[:, :, None, :]
    return out


@functools.lru_cache(maxsize=1)
def _missing_tile() -> np.ndarray:
    inner = 64 * SCALE
    text = _text(inner, inner, [(inner // 2, "no ground truth")], align="center")
    out = np.full((TILE, TILE), MISSING, np.uint8)
    out[BORDER:-BORDER, BORDER:-BORDER] = text
    return out


def _status(i: int, c: int, h: int) -> tuple[int, str]:
    return (CONTEXT, f"context {i + 1}/{c}") if i < c else (PREDICTED, f"predicted +{i - c + 1}/{h}")


def tile_frames(context, frames, horizon: int) -> np.ndarray:
    """One column of the panel: `(C + horizon, TILE, TILE) uint8` palette indices.

    context `(C, 64, 64)`; frames `(<= horizon, 64, 64)` follow it (truth or prediction); missing frames
    (ground truth shorter than the horizon) are drawn as "no ground truth".
    """
    context, frames = as_uint8(context), as_uint8(frames)[:horizon]
    markers = [CONTEXT] * len(context) + [PREDICTED] * len(frames)
    shown = _tiles(GREY_INDEX[np.concatenate([context, frames])], markers)
    return np.concatenate([shown, np.repeat(_missing_tile()[None], horizon - len(frames), 0)])


def column_frames(context, frames, horizon: int, title: str) -> np.ndarray:
    """One column on its own, labelled: `(C + horizon, HEADER + TILE + FOOTER, TILE + 2 * GAP) uint8` indices.

    `title` above (e.g. "truth"); below, a colour swatch, "context i/C" or "predicted +k/H", and the frame
    number. Arguments as `tile_frames`. Every frame's footer differs, so a GIF keeps every frame.
    """
    tiles = tile_frames(context, frames, horizon)
    c, n = len(context), len(tiles)
    width = TILE + 2 * GAP
    base = np.full((HEADER + TILE + FOOTER, width), GREY_INDEX[BG], np.uint8)
    base[:HEADER] = _text(width, HEADER, [(width // 2, title)], align="center")
    out = np.repeat(base[None], n, axis=0)
    out[:, HEADER : HEADER + TILE, GAP : GAP + TILE] = tiles
    for i in range(n):
        marker, status = _status(i, c, horizon)
        foot = out[i, HEADER + TILE :]
        foot[:] = _text(width, FOOTER, [(GAP + 22, status), (width - GAP - 58, f"{i + 1}/{n}")])
        foot[8:22, GAP : GAP + 14] = marker
    return out


def panel_frames(context, truth, pred) -> np.ndarray:
    """Panel frames `(C + H, HEADER + TILE + FOOTER, 3 * TILE + 4 * GAP) uint8` palette indices (`PALETTE`).

    Columns truth | prediction | |error|; context `(C, 64, 64)`, truth `(<= H, 64, 64)` (may be shorter:
    the missing frames say "no ground truth"), pred `(H, 64, 64)`. During the context the prediction column
    shows the context itself (the model has not predicted anything yet) and the error is zero.
    """
    context, truth, pred = as_uint8(context), as_uint8(truth), as_uint8(pred)
    c, h = len(context), len(pred)
    width = 3 * TILE + 4 * GAP
    xs = [GAP + j * (TILE + GAP) for j in range(3)]
    header = _text(width, HEADER, [(x + TILE // 2, s) for x, s in zip(xs, ("truth", "prediction", "|error|"))],
                   align="center")
    truths = tile_frames(context, truth, h)
    preds = tile_frames(context, pred, h)
    # |error| tiles of every frame with a reference (the context's is zero: it is shown as the prediction too)
    known = min(len(truth), h)
    diff = np.abs(pred[:known].astype(np.int16) - truth[:known].astype(np.int16)).astype(np.uint8)
    errors = _tiles(HEAT_INDEX[np.concatenate([np.zeros_like(context), diff])], [CONTEXT] * c + [PREDICTED] * known)
    base = np.full((HEADER + TILE + FOOTER, width), GREY_INDEX[BG], np.uint8)
    base[:HEADER] = header
    out = np.repeat(base[None], c + h, axis=0)
    out[:, HEADER : HEADER + TILE, xs[0] : xs[0] + TILE] = truths
    out[:, HEADER : HEADER + TILE, xs[1] : xs[1] + TILE] = preds
    out[: c + known, HEADER : HEADER + TILE, xs[2] : xs[2] + TILE] = errors
    out[c + known :, HEADER : HEADER + TILE, xs[2] : xs[2] + TILE] = _missing_tile()
    for i in range(c + h):
        marker, status = _status(i, c, h)
        foot = out[i, HEADER + TILE :]
        foot[:] = _text(width, FOOTER, [(GAP + 26, f"frame {i + 1}/{c + h}"), (xs[1] + 26, status)])
        for x in (GAP, xs[1]):  # a colour swatch before the text: context (blue) or predicted (orange)
            foot[8:22, x : x + 14] = marker
    return out


# The strip is a palette PNG: one byte a pixel and no PNG row filters to try, where an RGB one costs 3 bytes a pixel
# and five filters a row (Pillow's adaptive filtering): 4.9 -> ~1 ms per request. Its palette: a 128-level grey ramp
# (a frame's grey within 1 level of its own), then the blue and the orange of the markers, each a ramp from the
# background so that antialiased labels keep their edges (within ~2 levels of RGB drawing), then MISSING_RGB.
_STRIP_GREYS, _STRIP_RAMP = 128, 56
STRIP_GREY_INDEX = np.round(np.arange(256) * (_STRIP_GREYS - 1) / 255).astype(np.uint8)  # grey value -> index
_STRIP_BLUE, _STRIP_ORANGE = _STRIP_GREYS, _STRIP_GREYS + _STRIP_RAMP  # first index of each colour's ramp
_STRIP_MISSING = _STRIP_GREYS + 2 * _STRIP_RAMP


def _strip_palette() -> np.ndarray:
    p = np.zeros((256, 3), np.uint8)
    p[:_STRIP_GREYS] = np.round(np.linspace(0, 255, _STRIP_GREYS))[:, None]
    ramp = np.linspace(0, 1, _STRIP_RAMP)[:, None]
    for first, rgb in ((_STRIP_BLUE, CONTEXT_RGB), (_STRIP_ORANGE, PREDICTED_RGB)):
        p[first : first + _STRIP_RAMP] = np.round(BG + ramp * (np.array(rgb) - BG))
    p[_STRIP_MISSING] = MISSING_RGB
    return p


STRIP_PALETTE = _strip_palette()


@functools.lru_cache(maxsize=256)
def _strip_label(text: str, width: int, height: int, anchor: str, colour: str) -> np.ndarray:
    """`text` in `STRIP_PALETTE` indices `(height, width)`: drawn as Pillow draws it on an RGB strip (font 13 at the
    box's middle, `anchor` "mm" or "lm" 8 px in), its antialiasing mask mapped to the ramp of `colour` ("white",
    "blue", "orange") from the background. Labels repeat across requests ("+5", "truth"), so they are cached."""
    im = Image.new("L", (width, height), 0)
    ImageDraw.Draw(im).text((width // 2 if anchor == "mm" else 8, height // 2), text, fill=255, font=_font(13),
                            anchor=anchor)
    alpha = np.asarray(im, np.float32) / 255
    if colour == "white":
        out = STRIP_GREY_INDEX[np.round(BG + alpha * (235 - BG)).astype(np.uint8)]
    else:
        out = (_STRIP_BLUE if colour == "blue" else _STRIP_ORANGE) + np.round(alpha * (_STRIP_RAMP - 1))
    out = out.astype(np.uint8)
    out.flags.writeable = False
    return out


def save_strip(rows: dict[str, np.ndarray], last_context, path: str, max_cols: int = 12) -> str:
    """PNG grid at `path` (palette colours, `STRIP_PALETTE`): one labelled row per entry of `rows` (name ->
    `(H, 64, 64)` future frames).

    The first column is the last context frame (blue); then up to `max_cols` predicted steps (orange),
    evenly spaced over the horizon and numbered "+k", so long horizons still fit one screen width; a step a row
    has no frame for is a grey box.
    """
    horizon = max(len(v) for v in rows.values())
    steps = np.unique(np.round(np.linspace(1, horizon, min(max_cols, horizon))).astype(int))
    label_w, top, cell, b = 124, 22, 64 + 2 * 2 + 4, 2
    out = np.full((top + len(rows) * cell, label_w + (len(steps) + 1) * cell), STRIP_GREY_INDEX[BG], np.uint8)
    out[:top, label_w : label_w + cell] = _strip_label("context", cell, top, "mm", "blue")
    for j, s in enumerate(steps):
        x = label_w + (j + 1) * cell
        out[:top, x : x + cell] = _strip_label(f"+{s}", cell, top, "mm", "orange")
    last = STRIP_GREY_INDEX[as_uint8(last_context)]
    blue, orange = _STRIP_BLUE + _STRIP_RAMP - 1, _STRIP_ORANGE + _STRIP_RAMP - 1  # the ramps' ends: the colours
    for r, (name, frames) in enumerate(rows.items()):
        y = top + r * cell
        out[y : y + cell, :label_w] = _strip_label(name, label_w, cell, "lm", "white")
        frames = STRIP_GREY_INDEX[as_uint8(frames)]
        cells = [(last, blue)] + [(frames[s - 1] if s <= len(frames) else None, orange) for s in steps]
        for j, (frame, colour) in enumerate(cells):
            x = label_w + j * cell
            out[y : y + 64 + 2 * b, x : x + 64 + 2 * b] = colour if frame is not None else _STRIP_MISSING
            if frame is not None:
                out[y + b : y + b + 64, x + b : x + b + 64] = frame
    img = Image.fromarray(out, mode="P")
    img.putpalette(STRIP_PALETTE.tobytes())
    img.save(path, compress_level=1)  # fast; the strip is small either way
    return path


def compare_frames(context, truth, preds: dict, horizon: int) -> np.ndarray:
    """Side-by-side labelled columns truth | model A | model B ...: `(C + horizon, HEADER + TILE + FOOTER,
    (1 + len(preds)) * (TILE + 2 * GAP)) uint8` palette indices. `preds` maps a title to `(horizon, 64, 64)`."""
    columns = [column_frames(context, truth, horizon, "truth")]
    columns += [column_frames(context, p, horizon, title) for title, p in preds.items()]
    return np.concatenate(columns, axis=2)


HYPOTHESIS_RGB = np.array([(255, 145, 30), (66, 200, 244), (230, 60, 230)], np.float64)  # copy 1, copy 2, drawn


def _sure_rgb(sureness: float) -> tuple:
    """Arrow colour: red (unsure) -> yellow -> green (sure)."""
    s = float(np.clip(sureness, 0, 1))
    return (int(255 * min(1, 2 - 2 * s)), int(255 * min(1, 2 * s)), 40)


def inspect_frames(explanation: dict, arrow_gain: float = 2.0) -> np.ndarray:
    """What the streaming model did at each predicted frame, as RGB `(H, 44 + 256, 2 * 256 + 24, 3) uint8`.

    Left: the frame it moved pixels of, with one arrow per 4x4 patch that holds ink, from the patch's centre
    along the expected motion (x `arrow_gain`, so 3 px read clearly), coloured by sureness (red unsure, green
    sure). Right: the prediction, each pixel tinted by what made it (orange: moved copy 1, blue: moved copy 2,
    magenta: freshly drawn). `explanation` as `StreamingPredictor.explain` returns it.
    """
    inputs, frames = explanation["inputs"], explanation["frames"]
    motion, sure, choice = explanation["motion"], explanation["sureness"], explanation["choice"]
    side, size = motion.shape[1], 64 * SCALE
    cell = size // side
    out = []
    for k in range(len(frames)):
        canvas = Image.new("RGB", (2 * size + 24, 44 + size), (BG, BG, BG))
        d = ImageDraw.Draw(canvas)
        d.text((8 + size // 2, 14), "motion per patch (arrows)", fill=(235, 235, 235), font=_font(), anchor="mm")
        d.text((16 + size + size // 2, 14), f"prediction +{k + 1}: what made it", fill=(235, 235, 235),
               font=_font(), anchor="mm")
        grey = np.repeat(np.repeat(as_uint8(inputs[k]), SCALE, 0), SCALE, 1) // 2  # dimmed under the arrows
        canvas.paste(Image.fromarray(grey).convert("RGB"), (8, 36))
        weights = choice[k][..., : motion.shape[3]].reshape(side, cell // SCALE, side, cell // SCALE, -1).mean((1, 3))
        ink = as_uint8(inputs[k]).reshape(side, 64 // side, side, 64 // side).max(axis=(1, 3)) > 60
        for i, j in zip(*np.nonzero(ink)):
            n = int(np.argmax(weights[i, j]))  # the hypothesis this patch mostly uses
            dy, dx = motion[k, i, j, n] * SCALE * arrow_gain
            y0, x0 = 36 + i * cell + cell // 2, 8 + j * cell + cell // 2
            colour = _sure_rgb(sure[k, i, j, n] * 2)  # 0.5 already means one displacement clearly wins
            d.line((x0, y0, x0 + dx, y0 + dy), fill=colour, width=2)
            d.ellipse((x0 + dx - 2, y0 + dy - 2, x0 + dx + 2, y0 + dy + 2), fill=colour)
        tint = choice[k] @ HYPOTHESIS_RGB[: choice.shape[-1]]  # (64, 64, 3)
        lit = (0.15 + 0.85 * np.clip(frames[k], 0, 1))[..., None]
        right = np.repeat(np.repeat((tint * lit).astype(np.uint8), SCALE, 0), SCALE, 1)
        canvas.paste(Image.fromarray(right), (16 + size, 36))
        out.append(np.asarray(canvas))
    return np.stack(out)
