"""Which pixel rule drew a context's digits, read back from their tracks.

A Moving MNIST generator moves each digit along a float track and draws it at whole pixels: OpenSTL truncates the
positions, others round them (`predictor.moving_mnist.PIXEL_RULES`). Away from the walls the two are the same
track half a pixel apart, but a bounce tells them apart: the frame of a bounce is drawn exactly at the wall, and
from there the track is `wall -/+ k * v`, truncated or rounded. A network trained on one rule predicts the other's
bounces a frame early or late (`tools.pixel_rules`), so `StreamingPredictor` can hand a context whose tracks show
the rule to a network trained on it (`rollout.expert_rules` on a card).

    rule = context_rule(split.tracks)   # "truncate", "round" or None (no bounce tells, or the tracks disagree)
"""

from __future__ import annotations

import numpy as np

from predictor.moving_mnist import CANVAS, DIGIT, PIXEL_RULES

TOP = CANVAS - DIGIT  # the far wall, as a box's top-left: 36
STEP = 0.0005  # px/frame: the grid of axis speeds tried (a rule's feasible speeds span ~0.01 or more)
SLACK = 1e-9  # float rounding in the half-open pixel cells
RULE_WORDS = {"truncate": "truncated", "round": "rounded"}  # a rule as the positions it draws, for cards and logs


def axis_rules(positions) -> tuple | None:
    """The pixel rules that can have drawn one axis of a box track, `positions (T,) int` px (one coordinate of a
    `SplitDigits` track: the true box position plus one constant offset), under the generator's motion (constant
    speed, clamped at the walls 36 px apart, turning there). None where the track does not turn (nothing tells);
    else a tuple of the rules in `PIXEL_RULES` under which some speed and starting point draw exactly these
    positions (`()`: none does, e.g. a track the split got wrong)."""
    p = np.asarray(positions, np.float64)
    steps = np.diff(p)
    moving = np.flatnonzero(steps)
    turn = next(((a, b) for a, b in zip(moving[:-1], moving[1:]) if np.sign(steps[a]) != np.sign(steps[b])), None)
    if turn is None:
        return None
    a, b = turn  # steps a and b turn; frames a+1..b are at the extreme, one of them the bounce at the wall
    d, wall = np.sign(steps[a]), p[b]  # d = +1: the far wall, reached moving up
    low = wall - TOP if d > 0 else wall  # the near wall in the track's coordinates
    size = np.abs(steps[moving])  # a step is the speed rounded either way, or shorter at a bounce
    v = np.arange(max(STEP, np.median(size) - 1.5), size.max() + 1, STEP)
    bounces = range(a + 1, b + 1)
    return tuple(rule for rule in PIXEL_RULES if any(_feasible(p, rule, d, wall, low, t, v) for t in bounces))


def _feasible(p, rule, d, wall, low, bounce, v) -> bool:
    """Whether `p (T,)` is drawn by `rule` for some speed in `v (S,)`, with the bounce at the wall at frame `bounce`.
    Before it, frame t is at `wall - d * (u + (bounce - 1 - t) * v)` with `u` in [0, v] the gap the frame before the
    bounce leaves to the wall (one interval of u per speed); from it on, `wall` and then moving back at `v`,
    clamped at the walls as the generator does."""
    cell = p - (0.5 if rule == "round" else 0.0)  # a pixel p holds the float positions [cell, cell + 1)
    u_lo, u_hi = np.zeros_like(v), v.copy()
    for t in range(bounce):
        m = (bounce - 1 - t) * v
        if d > 0:  # cell <= wall - u - m < cell + 1
            u_lo, u_hi = np.maximum(u_lo, wall - m - cell[t] - 1 + SLACK), np.minimum(u_hi, wall - m - cell[t])
        else:  # cell <= wall + u + m < cell + 1
            u_lo, u_hi = np.maximum(u_lo, cell[t] - wall - m), np.minimum(u_hi, cell[t] + 1 - wall - m - SLACK)
    ok = u_lo <= u_hi
    x, vel = np.full_like(v, wall), -d * v
    for t in range(bounce, len(p)):
        if t > bounce:
            x = x + vel
            out = (x < low) | (x > low + TOP)
            x, vel = np.clip(x, low, low + TOP), np.where(out, -vel, vel)
        ok &= (x >= cell[t] - SLACK) & (x < cell[t] + 1 - SLACK)
    return bool(ok.any())


def context_rule(tracks) -> str | None:
    """`tracks (L, T, 2) int` (a `SplitDigits`' box tracks; one rule draws a whole context) -> the rule in
    `PIXEL_RULES` that some axis alone allows and no axis rules out, or None (no turn tells, or axes disagree)."""
    told = set()
    for track in np.asarray(tracks).reshape(-1, *np.shape(tracks)[-2:]):
        for axis in np.asarray(track).T:
            rules = axis_rules(axis)
            if rules is not None and len(rules) == 1:
                told.add(rules[0])
    return told.pop() if len(told) == 1 else None
