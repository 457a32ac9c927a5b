"""Live per-epoch metrics of a sweep: metrics.jsonl (one line per network per epoch, the values its
curves record), TensorBoard event files with the same scalars, each epoch once across a resume, a line
cut by a crash dropped, the umask's modes; the learning curves of a folder (ds.results.curves) and
their plot (python -m sweeps.curves)."""
import argparse
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from deep_sparse import metrics_log, results, sweep
from deep_sparse.config import TrainConfig
from deep_sparse.metrics_log import METRICS_FILE, MetricsLog, read_lines
from deep_sparse.names import DeadlineReached
from deep_sparse.sweep_options import SweepOptions
from sweeps import common
from sweeps import curves as curves_command
from tests import fakes
from tests.test_sweep import make_data

CONFIG = TrainConfig(num_classes=3, hidden_sizes=(8, 8), batch_size=20, epochs=3, patience=None)
PRETRAINED = TrainConfig(num_classes=3, hidden_sizes=(8, 8), batch_size=20, epochs=2, pretrain_epochs=2,
                         patience=None)
GRID = {"lr": [0.1, 0.03], "seed": [0, 1]}
QUIET = dict(progress=False, log=lambda message: None, checkpoint_every=0)
FINETUNE_CURVES = ("train_loss", "valid_error", "valid_sparsity")


@pytest.fixture(scope="module")
def data():
    return make_data(CONFIG, n=(100, 40, 40))


@pytest.fixture(scope="module")
def swept(data, tmp_path_factory):
    """A sweep with pre-training, in chunks of 2: ``(out_dir, rows)``."""
    out_dir = str(tmp_path_factory.mktemp("metrics"))
    rows = sweep.run(PRETRAINED, GRID, out_dir, data, options=SweepOptions(chunk_size=2, **QUIET))
    return out_dir, rows


def as_array(values):
    return np.array([np.nan if v is None else v for v in values], np.float64)


def test_one_line_per_network_epoch_with_the_recorded_curves(swept):
    out_dir, rows = swept
    lines = read_lines(os.path.join(out_dir, METRICS_FILE))
    finetune = [line for line in lines if line["stage"] == "finetune"]
    assert sorted((line["network"], line["epoch"]) for line in finetune) == [
        (row["network"], epoch) for row in rows for epoch in (1, 2)]
    for row in rows:
        mine = sorted((line for line in finetune if line["network"] == row["network"]), key=lambda line: line["epoch"])
        assert {line["group"] for line in mine} == {row["group"]}
        for name in FINETUNE_CURVES:
            np.testing.assert_array_equal(as_array([line[name] for line in mine]), as_array(row["curves"][name]),
                                          err_msg=name)


def test_pretraining_is_logged_once_per_stack_and_layer(swept):
    out_dir, rows = swept
    lines = [line for line in read_lines(os.path.join(out_dir, METRICS_FILE)) if line["stage"] != "finetune"]
    # two stacks (seeds 0 and 1), shared by both fine-tuning lrs, each logged under one network
    logged = {line["network"] for line in lines}
    assert len(logged) == 2
    for network in logged:
        row = next(r for r in rows if r["network"] == network)
        for layer in (0, 1):
            mine = sorted((line for line in lines if line["network"] == network
                           and line["stage"] == f"pretrain_layer_{layer + 1}"), key=lambda line: line["epoch"])
            assert [line["epoch"] for line in mine] == [1, 2]
            for name in ("pretrain_loss", "pretrain_valid_loss"):
                np.testing.assert_array_equal(as_array([line[name] for line in mine]),
                                              as_array(row["curves"][name][layer]), err_msg=name)


def test_tensorboard_events_hold_the_same_scalars(swept):
    out_dir, _ = swept
    lines = read_lines(os.path.join(out_dir, METRICS_FILE))
    for network in {line["network"] for line in lines}:
        run = os.path.join(out_dir, metrics_log.TENSORBOARD_FOLDER, f"network_{network:05d}")
        events = EventAccumulator(run)
        events.Reload()
        mine = [line for line in lines if line["network"] == network]
        expected = {(f"{line['stage']}/{name}", line["epoch"]): value for line in mine
                    for name, value in line.items() if name not in metrics_log.KEY_FIELDS and value is not None}
        read = {(tag, event.step): event.value for tag in events.Tags()["scalars"]
                for event in events.Scalars(tag)}
        assert read.keys() == expected.keys()
        for key, value in expected.items():
            assert read[key] == pytest.approx(value, rel=1e-6), key


def test_a_resumed_sweep_logs_each_epoch_once(data, swept, tmp_path, monkeypatch):
    """A sweep stopped at its deadline after the first chunk's first epoch, its checkpoint lost, and
    resumed: the epochs it computes again are not logged again; the file equals an uninterrupted run's
    but for the times."""
    out_dir = str(tmp_path / "resumed")
    with pytest.raises(DeadlineReached):
        sweep.run(CONFIG, GRID, out_dir, data, options=SweepOptions(chunk_size=2, deadline=0.0, **QUIET))
    assert [(line["network"], line["epoch"]) for line in read_lines(os.path.join(out_dir, METRICS_FILE))] == [
        (0, 1), (1, 1)]
    shutil.rmtree(os.path.join(out_dir, "checkpoints"))  # the chunk restarts from its first epoch
    sweep.run(CONFIG, GRID, out_dir, data, options=SweepOptions(chunk_size=2, resume=True, **QUIET))
    whole = str(tmp_path / "whole")
    sweep.run(CONFIG, GRID, whole, data, options=SweepOptions(chunk_size=2, **QUIET))

    def untimed(folder):
        return sorted((json.dumps({k: v for k, v in line.items() if k != "time"}, sort_keys=True)
                       for line in read_lines(os.path.join(folder, METRICS_FILE))))

    assert untimed(out_dir) == untimed(whole)
    assert len(untimed(whole)) == 4 * CONFIG.epochs
    # the resumed process wrote its own event file beside the first one's, with the epochs it logged
    assert len(os.listdir(os.path.join(out_dir, metrics_log.TENSORBOARD_FOLDER, "network_00000"))) == 2


def test_no_metrics_writes_no_file(data, tmp_path):
    sweep.run(CONFIG, {"lr": [0.1], "seed": [0]}, str(tmp_path), data, options=SweepOptions(metrics=False, **QUIET))
    assert not os.path.exists(tmp_path / METRICS_FILE)
    assert not os.path.exists(tmp_path / metrics_log.TENSORBOARD_FOLDER)


def test_a_line_cut_by_a_crash_is_dropped_and_the_log_continues(tmp_path):
    path = tmp_path / METRICS_FILE
    path.write_text(json.dumps({"network": 0, "stage": "finetune", "epoch": 1}) + "\n"
                    + '{"network": 0, "stage": "finetune", "epo')
    log = MetricsLog(str(tmp_path), {0: 0}, tensorboard=False)
    log.write("finetune", {0: (1, {"train_loss": 1.0}), 1: (1, {"train_loss": float("nan")})})
    log.write("finetune", {0: (2, {"train_loss": 0.5})})
    log.close()
    assert [(line["network"], line["epoch"]) for line in read_lines(str(path))] == [(0, 1), (1, 1), (0, 2)]
    assert read_lines(str(path))[1]["train_loss"] is None  # not finite: null, valid JSON


def test_a_damaged_line_is_named(tmp_path):
    path = tmp_path / METRICS_FILE
    path.write_text('{"network": 0, "stage": "finetune", "epoch": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl, line 2: expected a JSON object"):
        read_lines(str(path))


def test_files_get_the_modes_of_the_umask(tmp_path, umask_022):
    log = MetricsLog(str(tmp_path), {3: 0})
    log.write("finetune", {3: (1, {"train_loss": 1.0})})
    log.close()
    found = fakes.modes(tmp_path)
    assert found == {METRICS_FILE: 0o644, "tensorboard": 0o755, "tensorboard/network_00003": 0o755,
                     os.path.join("tensorboard/network_00003", os.listdir(tmp_path / "tensorboard/network_00003")[0]):
                     0o644}


def test_curves_of_a_recorded_folder_are_the_logged_ones(swept, tmp_path):
    """A folder written before metrics.jsonl existed gives, from its results.json rows, the lines the
    log holds (but for the time)."""
    out_dir, _ = swept
    recorded = str(tmp_path / "recorded")
    shutil.copytree(out_dir, recorded, ignore=shutil.ignore_patterns(METRICS_FILE, "tensorboard"))
    logged, from_rows = results.curves(out_dir), results.curves(recorded)
    key = ["network", "stage", "epoch"]
    logged = logged.drop(columns="time").sort_values(key).reset_index(drop=True)
    # the rows of every fine-tuned network carry its stack's pre-training curves; the log has each stack once
    from_rows = from_rows.merge(logged[key], on=key).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(logged, from_rows, check_dtype=False)


def test_the_curves_command_plots_a_sweep(swept, tmp_path, capsys):
    out_dir, _ = swept
    png = tmp_path / "curves.png"
    assert curves_command.main([out_dir, "--out", str(png), "--metric", "pretrain_loss"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "pretrain_loss per epoch of 2 network(s)" in capsys.readouterr().out


def test_the_curves_command_refuses_a_folder_without_curves_in_one_line(tmp_path, capsys):
    assert common.cli(curves_command.main, [str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path}: no learning curves there") and err.count("\n") == 1
    assert not os.listdir(tmp_path)


def test_no_metrics_flag():
    parser = argparse.ArgumentParser()
    common.add_run_arguments(parser, default_out="runs/x")
    assert common.sweep_options(parser.parse_args([])).metrics is True
    assert common.sweep_options(parser.parse_args(["--no-metrics"])).metrics is False
