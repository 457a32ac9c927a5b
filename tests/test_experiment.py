"""deep_sparse.experiment: what every experiment does with its preset (open a data set at the preset's
size, sweep with its metadata, write cells)."""
import numpy as np
import pytest

from deep_sparse import data as data_lib
from deep_sparse import experiment, presets, results_io
from deep_sparse.presets import Generated, Subset
from deep_sparse.sweep import SweepOptions
from fakes import example


# ------------------------------------------------------------------------------ data sets
SMALL = presets.NetworkPreset(name="small", description="small", hidden_sizes=(4,), epochs=1, patience=None)


def fake_splits(n_train=80, n_valid=40, n_test=30, **_):
    rng = np.random.default_rng(0)
    return {split: (rng.random((n, 6)).astype(np.float32), rng.integers(0, 3, n).astype(np.int32))
            for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test))}


def test_load_dataset_cuts_a_stored_set_and_passes_a_generators_options(monkeypatch):
    calls = []

    def load(name, data_dir=None, download=True, **options):
        calls.append((name, download, options))
        return fake_splits(**options)

    monkeypatch.setattr(data_lib, "load_splits", load)
    base = SMALL.train_config("x")
    config, data, reason = experiment.load_dataset("mnist", Subset(train_size=50, test_size=7), base, download=False)
    assert reason is None and calls[-1] == ("mnist", False, {})
    assert (config.dataset, config.num_classes, config.train_size, config.valid_size) == ("mnist", 10, 50, None)
    assert experiment.split_sizes(data) == {"n_train": 50, "n_valid": 40, "n_test": 7}
    config, data, reason = experiment.load_dataset("shapeset", Generated(n_train=12, n_valid=9, n_test=5), base)
    assert calls[-1] == ("shapeset", True, {"n_train": 12, "n_valid": 9, "n_test": 5, "seed": 0})
    assert config.num_classes == data_lib.num_classes("shapeset") and config.train_size is None
    assert experiment.split_sizes(data) == {"n_train": 12, "n_valid": 9, "n_test": 5}


@pytest.mark.parametrize("failure, reason", [
    (FileNotFoundError("no mnist files"), "not run: no files in DATA_DIR (no mnist files)"),
    (ValueError("bad header"), "not run: loading mnist from DATA_DIR failed (ValueError: bad header)"),
])
def test_a_data_set_that_cannot_be_had_is_a_reason(monkeypatch, tmp_path, failure, reason):
    def load(name, **_):
        raise failure

    monkeypatch.setattr(data_lib, "load_splits", load)
    base = SMALL.train_config("x")
    # the reason is committed with the results: the data folder is written DATA_DIR
    assert experiment.load_dataset("mnist", Subset(), base, str(tmp_path)) == (None, None, reason)


def test_a_subset_larger_than_the_data_set_is_a_reason(monkeypatch):
    monkeypatch.setattr(data_lib, "load_splits", lambda name, **options: fake_splits())
    base = SMALL.train_config("x")
    _, _, reason = experiment.load_dataset("mnist", Subset(train_size=1000), base)
    assert reason.startswith("not run: mnist: TrainConfig.train_size=1000")


# ------------------------------------------------------------------------------ a run
def make_run(tmp_path, preset=None, log=None):
    return experiment.Run("example", preset or example().with_overrides(epochs=3), str(tmp_path / "out"),
                          argv=("-m", "sweeps.example", "--epochs", "3"), sweep_options=SweepOptions(resume=True),
                          log=log or (lambda line: None))


def test_a_run_records_a_missing_data_set_as_not_run(tmp_path, monkeypatch):
    monkeypatch.setattr(data_lib, "load_splits", lambda name, **_: (_ for _ in ()).throw(FileNotFoundError(name)))
    lines = []
    run = make_run(tmp_path, log=lines.append)
    folder, config, data, reason = run.open_dataset("mnist", run.preset.train_config("mnist"))
    assert folder == str(tmp_path / "out" / "mnist") and config is None and data is None
    assert reason.startswith("not run: no files in") and lines == [f"mnist: {reason}"]
    written = results_io.read_json(str(tmp_path / "out" / "mnist" / "results.json"))
    assert written["not_run"] == reason and written["rows"] == [] and not written["complete"]
    assert (written["experiment"], written["preset"], written["dataset"]) == ("example", "paper [--epochs 3]", "mnist")
    assert written["preset_settings"]["epochs"] == 3 and written["argv"] == ["-m", "sweeps.example", "--epochs", "3"]
    assert results_io.is_ours(str(tmp_path / "out"))  # --out is claimed, so the run can write its summary there


def test_a_run_sweeps_with_its_options_and_metadata_and_finishes_with_cells_and_summary(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(data_lib, "load_splits", lambda name, **options: fake_splits(**options))
    monkeypatch.setattr("deep_sparse.sweep.run", lambda config, grid, folder, **kwargs: calls.append(
        (config, grid, folder, kwargs)) or [{"network": 0}])
    run = make_run(tmp_path)
    folder, config, data, reason = run.open_dataset("shapeset", run.preset.train_config("shapeset"))
    assert reason is None and config.num_classes == 3
    assert run.sweep(config, [{"lr": 0.1}], folder, data, dataset="shapeset") == [{"network": 0}]
    (_, grid, swept, kwargs), = calls
    options = kwargs["options"]
    assert grid == [{"lr": 0.1}] and swept == folder and options.resume is True and kwargs["data"] is data
    assert options.argv == ("-m", "sweeps.example", "--epochs", "3")
    assert options.extra_metadata == {"experiment": "example", "preset": "paper [--epochs 3]",
                                      "preset_settings": run.preset.settings(), "dataset": "shapeset",
                                      "sizes": {"n_train": 30, "n_valid": 20, "n_test": 10}}
    cell = run.cell("shapeset", "rectifier", "test_error", np.float32(0.25), None, n_test=10)
    assert cell == {"experiment": "example", "preset": "paper [--epochs 3]", "dataset": "shapeset",
                    "cell": "rectifier", "metric": "test_error", "ours": 0.25, "paper_key": None, "n_test": 10}
    run.finish([cell], "# summary\n")
    assert results_io.read_json(str(tmp_path / "out" / "cells.json")) == {"cells": [cell]}
    assert (tmp_path / "out" / "summary.md").read_text() == "# summary\n"
