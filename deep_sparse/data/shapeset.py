"""Shapeset: a seeded generator of 32x32 grey-level images of simple 2-D shapes (3 classes).

In the spirit of Bengio et al. (2009) as the workshop paper describes it: each image holds one
triangle (class 0), rectangle (class 1) or ellipse (class 2) with a random position, size,
orientation, aspect ratio and random foreground and background grey levels (their contrast is at
least :data:`MIN_CONTRAST`, in either direction). Edges are anti-aliased by 2x2 supersampling.
Pixel values are float32 in [0, 1], flattened to 1024 (row-major). Classes are drawn uniformly.

Determinism: split ``s`` (0 train, 1 valid, 2 test) of ``seed`` is drawn from
``numpy.random.default_rng([seed, s])``, one row of uniforms per image, so the splits are independent
(asking for more validation examples does not change the training set) and the first k images of a
split are the same whatever its size. Default sizes 10k / 10k / 10k.
This is a re-creation, not the original Shapeset files, which are not distributed.
"""
from __future__ import annotations

import numpy as np

__all__ = ["generate", "load_splits", "CLASSES", "SIDE", "DEFAULT_SIZES"]

CLASSES = ("triangle", "rectangle", "ellipse")
SIDE = 32
MIN_CONTRAST = 0.25
SUPERSAMPLE = 2
DEFAULT_SIZES = {"train": 10_000, "valid": 10_000, "test": 10_000}
_SPLIT_INDEX = {"train": 0, "valid": 1, "test": 2}
_CHUNK = 4096


def _grid(side: int, ss: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel sample coordinates ``[side*side, ss*ss]`` (pixel centres at integer + 0.5)."""
    offsets = (np.arange(ss) + 0.5) / ss
    coords = (np.arange(side)[:, None] + offsets[None, :]).reshape(-1)  # side*ss
    yy, xx = np.meshgrid(coords, coords, indexing="ij")  # [side*ss, side*ss]
    yy = yy.reshape(side, ss, side, ss).transpose(0, 2, 1, 3).reshape(side * side, ss * ss)
    xx = xx.reshape(side, ss, side, ss).transpose(0, 2, 1, 3).reshape(side * side, ss * ss)
    return xx.astype(np.float32), yy.astype(np.float32)


def _render(labels, cx, cy, a, b, theta, fg, bg, side: int, ss: int) -> np.ndarray:
    xx, yy = _grid(side, ss)
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    u = c * dx + s * dy  # shape-local coordinates
    v = -s * dx + c * dy
    a, b = a[:, None, None], b[:, None, None]
    mask = np.empty(u.shape, bool)
    for k in range(3):  # one shape test per class, on that class's images only
        i = labels == k
        uk, vk, ak, bk = u[i], v[i], a[i], b[i]
        if k == 0:  # isosceles triangle: apex (0, -b), base (-a, b)..(a, b)
            t = ak * (vk + bk)
            mask[i] = (vk <= bk) & (2 * bk * np.abs(uk) <= t)
        elif k == 1:
            mask[i] = (np.abs(uk) <= ak) & (np.abs(vk) <= bk)
        else:
            mask[i] = (uk / ak) ** 2 + (vk / bk) ** 2 <= 1.0
    coverage = mask.mean(axis=-1, dtype=np.float32)  # [n, side*side]
    return (bg[:, None] + (fg - bg)[:, None] * coverage).astype(np.float32)


def generate(n: int, seed: int = 0, split: str | int = "train", side: int = SIDE) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images ``(x float32 [n, side*side] in [0, 1], y int32 [n] in {0, 1, 2})`` for ``split`` of ``seed``."""
    if n < 0:
        raise ValueError(f"Shapeset: expected a non-negative number of examples, got {n}")
    index = _SPLIT_INDEX[split] if isinstance(split, str) else int(split)
    rng = np.random.default_rng([int(seed), index])
    # one row of uniforms per image, drawn row by row: the first k images do not depend on n
    u = rng.uniform(size=(n, 9))
    labels = np.minimum((u[:, 0] * 3).astype(np.int32), 2)
    half = (0.15 + 0.20 * u[:, 1]) * side  # half of the longer extent
    aspect = 0.5 + 0.5 * u[:, 2]
    a, b = half.astype(np.float32), (half * aspect).astype(np.float32)
    margin = 0.5 * half
    cx = (margin + u[:, 3] * (side - 2 * margin)).astype(np.float32)
    cy = (margin + u[:, 4] * (side - 2 * margin)).astype(np.float32)
    theta = (np.pi * u[:, 5]).astype(np.float32)
    bg = u[:, 6]
    # foreground at least MIN_CONTRAST away from the background, inside [0, 1], lighter or darker
    offset = MIN_CONTRAST + (1.0 - MIN_CONTRAST) * u[:, 7]
    up = bg + offset <= 1.0
    down = bg - offset >= 0.0
    sign = np.where(up & down, np.where(u[:, 8] < 0.5, 1.0, -1.0), np.where(up, 1.0, -1.0))
    neither = ~(up | down)  # too far either way: go to the farther end of [0, 1]
    sign = np.where(neither, np.where(bg < 0.5, 1.0, -1.0), sign)
    offset = np.where(neither, np.maximum(bg, 1 - bg), offset)
    fg = np.clip(bg + sign * offset, 0.0, 1.0).astype(np.float32)
    bg = bg.astype(np.float32)
    x = np.empty((n, side * side), np.float32)
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        x[sl] = _render(labels[sl], cx[sl], cy[sl], a[sl], b[sl], theta[sl], fg[sl], bg[sl], side, SUPERSAMPLE)
    return x, labels


def load_splits(n_train: int = 10_000, n_valid: int = 10_000, n_test: int = 10_000, seed: int = 0) -> dict:
    """``{"train", "valid", "test"}`` -> ``(x, y)`` of the given sizes (default 10k each)."""
    sizes = {"train": n_train, "valid": n_valid, "test": n_test}
    return {split: generate(int(n), seed, split) for split, n in sizes.items()}
