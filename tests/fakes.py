"""Small fixed stand-ins shared by the experiment-module tests (fast, no data files)."""
import numpy as np

from sweeps import common


def fake_load_splits(name, data_dir, download=True, width=64, block=20, **options):
    """``sweeps.common.load_splits`` for a fake Shapeset: three separable classes of ``width`` inputs in
    [0, 1] (class k lifts inputs ``block * k`` to ``block * (k + 1)``); every other data set is "not run"."""
    if name != "shapeset":
        return None, f"not run: no files in {common.default_data_dir(data_dir)} (test)"
    rng = np.random.default_rng(options.get("seed", 0))
    splits = {}
    for split in ("train", "valid", "test"):
        n = options.get(f"n_{split}", 100)
        y = rng.integers(0, 3, n).astype(np.int32)
        x = 0.3 * rng.random((n, width)).astype(np.float32)
        for k in range(3):
            x[y == k, block * k:block * (k + 1)] += 0.6
        splits[split] = (np.clip(x, 0, 1), y)
    return splits, None
