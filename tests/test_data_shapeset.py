"""Shapeset generator: determinism, ranges, split independence, shape geometry, speed."""

import numpy as np

import deep_sparse.data as data
from deep_sparse.data import shapeset


def test_shapes_types_and_ranges():
    x, y = shapeset.generate(600, seed=3)
    assert x.shape == (600, 1024) and x.dtype == np.float32 and y.dtype == np.int32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert set(np.unique(y)) == {0, 1, 2}
    assert np.all(np.bincount(y) > 150)  # classes drawn uniformly
    # every image shows its shape: foreground and background differ by at least the minimum contrast
    spread = x.max(axis=1) - x.min(axis=1)
    assert spread.min() >= shapeset.MIN_CONTRAST - 1e-6
    # both polarities (light on dark and dark on light) occur
    corners = x.reshape(-1, 32, 32)[:, 0, 0]
    centre_brighter = x.mean(axis=1) > corners
    assert 0.2 < centre_brighter.mean() < 0.8


def test_deterministic_and_split_independent():
    a = data.load_splits("shapeset", n_train=50, n_valid=20, n_test=30, seed=7)
    b = data.load_splits("shapeset", n_train=50, n_valid=40, n_test=30, seed=7)
    np.testing.assert_array_equal(a["train"][0], b["train"][0])
    np.testing.assert_array_equal(a["test"][1], b["test"][1])
    np.testing.assert_array_equal(a["valid"][0], b["valid"][0][:20])
    assert not np.array_equal(a["train"][0][:20], a["valid"][0])
    c = data.load_splits("shapeset", n_train=50, n_valid=20, n_test=30, seed=8)
    assert not np.array_equal(a["train"][0], c["train"][0])
    x, y = data.load("shapeset", "valid", n_valid=20, seed=7)
    np.testing.assert_array_equal(x, a["valid"][0])
    assert data.num_classes("shapeset") == 3


def test_shape_areas():
    """Same geometry, three classes: areas are 2ab (triangle), 4ab (rectangle), pi ab (ellipse)."""
    n = 3
    labels = np.array([0, 1, 2], np.int32)
    a, b = np.full(n, 8.0, np.float32), np.full(n, 5.0, np.float32)
    centre = np.full(n, 16.0, np.float32)
    x = shapeset._render(labels, centre, centre, a, b, np.full(n, 0.3, np.float32), np.ones(n, np.float32),
                         np.zeros(n, np.float32), 32, 4)
    np.testing.assert_allclose(x.sum(axis=1), [2 * 8 * 5, 4 * 8 * 5, np.pi * 8 * 5], rtol=0.03)


def test_ten_thousand_images():
    # speed belongs in benchmarks, not in an assertion here
    x, y = shapeset.generate(10_000, seed=0)
    assert x.shape == (10_000, 1024) and y.shape == (10_000,)
