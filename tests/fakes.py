"""Small fixed stand-ins shared by the experiment-module tests (fast, no data files)."""
import dataclasses
import os
import stat

import numpy as np

from deep_sparse import data as data_lib
from deep_sparse import presets, results_io
from deep_sparse.config import Hparams
from deep_sparse.presets import DatasetPreset, Generated, Subset
from deep_sparse.planner import normalize_grid
from deep_sparse.sweep import SweepOptions


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExamplePreset(DatasetPreset):
    """A preset of an experiment of its own (its data sets, activations and a setting with its own rule)."""

    known_datasets = ("mnist", "norb", "shapeset")
    known_activations = ("rectifier", "tanh")

    norb_hidden_sizes: tuple[int, ...]
    activations: tuple[str, ...]
    pretrain_epochs: int
    lr: tuple[float, ...]
    l1: float
    seeds: int
    fractions: tuple[float, ...] = presets.setting(
        lambda v: bool(v) and all(0 < f <= 1 for f in v), "a non-empty list of fractions in (0, 1]", default=(1.0,))


def example(**changes) -> ExamplePreset:
    """The paper-scale example preset, with ``changes`` (validated as any preset is)."""
    settings = dict(name="paper", description="PAPER SCALE, for the tests", hidden_sizes=[1000, 1000, 1000],
                    norb_hidden_sizes=(4000, 2000), epochs=50, patience=10, pretrain_epochs=10, lr=[0.1, 0.01],
                    l1=0.001, seeds=2, activations=["rectifier", "tanh"], datasets=["mnist", "shapeset"],
                    sizes={"mnist": Subset(train_size=100, valid_size=50, test_size=60),
                           "shapeset": Generated(n_train=30, n_valid=20, n_test=10, seed=3)})
    settings.update(changes)
    return ExamplePreset(**settings)


def fake_load_splits(name, data_dir, download=True, width=64, block=20, **options):
    """``deep_sparse.experiment.load_splits`` for a fake Shapeset: three separable classes of ``width``
    inputs in [0, 1] (class k lifts inputs ``block * k`` to ``block * (k + 1)``); every other data set is
    "not run"."""
    if name != "shapeset":
        return None, f"not run: no files in {data_lib.default_data_dir(data_dir)} (test)"
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


def fake_sweep(calls: list):
    """``deep_sparse.sweep.run`` that trains nothing: it records ``(config, grid, folder, options)`` (the
    :class:`~deep_sparse.sweep_options.SweepOptions`) in
    ``calls``, claims ``folder`` as the sweep's store does, and returns one row per grid point, with
    fixed errors (network k: validation error 0.5 - k / 100, test error 0.6 - k / 100, reconstruction
    error 1 + k) and no divergence."""
    def run(config, grid, folder, data=None, *, base_hparams=None, options=SweepOptions()):
        calls.append((config, grid, folder, options))
        results_io.claim_output_folder(folder)
        results_io.atomic_write_json(os.path.join(folder, "plan.json"), {"fake": True})
        rows = []
        for k, point in enumerate(normalize_grid(grid)):
            row = {**Hparams()._asdict(), "activation": config.activation, "pretrain_epochs": config.pretrain_epochs,
                   "labeled_fraction": config.labeled_fraction, **point}
            rows.append(dict(row, network=k, diverged=False, valid_error=0.5 - k / 100, test_error=0.6 - k / 100,
                             sparsity=0.7, pretrain_reconstruction=1.0 + k if row["pretrain_epochs"] else None))
        return rows
    return run


def modes(folder) -> dict:
    """``{path relative to folder: permission bits}`` of every file and folder under ``folder``."""
    found = {}
    for directory, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, folder)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found
