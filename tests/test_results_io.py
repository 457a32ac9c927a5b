"""Atomic results files, JSON without NaN, CSV round trip, provenance (issue 5)."""
import csv
import json
import os

import numpy as np
import pytest

from deep_sparse import results_io
from fakes import modes


def leftovers(directory):
    return [name for name in os.listdir(directory) if name.startswith(".tmp-")]


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = tmp_path / "out.txt"
    results_io.atomic_write_text(str(path), "first\n")
    results_io.atomic_write_text(str(path), "second\n")
    assert path.read_text() == "second\n"
    assert leftovers(tmp_path) == []


def test_atomic_write_creates_the_directory(tmp_path):
    path = tmp_path / "a" / "b" / "out.json"
    results_io.atomic_write_json(str(path), {"x": 1})
    assert json.loads(path.read_text()) == {"x": 1}


@pytest.mark.parametrize("writer, payload", [
    (results_io.atomic_write_text, "new contents " * 1000),
    (results_io.atomic_write_json, {"rows": list(range(1000))}),
    (results_io.atomic_write_csv, [{"a": i, "b": 0.5} for i in range(1000)]),
])
def test_failure_mid_write_keeps_the_old_file(tmp_path, monkeypatch, writer, payload):
    path = tmp_path / "results.csv"
    path.write_text("old contents\n")

    def failing_replace(src, dst):
        assert os.path.exists(src)  # the new contents were fully written to a temp file first
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        writer(str(path), payload)
    monkeypatch.undo()
    assert path.read_text() == "old contents\n"
    assert leftovers(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["results.csv"]


def test_failure_before_the_first_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        results_io.atomic_write_text(str(tmp_path / "new.txt"), "x")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_nan_and_inf_become_null_in_json(tmp_path):
    path = tmp_path / "r.json"
    payload = {
        "nan": float("nan"), "inf": float("inf"), "ninf": -np.inf, "ok": 1.5,
        "array": np.array([1.0, np.nan, 2.0], np.float32), "np_scalar": np.float32("nan"),
        "nested": [{"x": float("nan")}], "int": np.int64(3), "bool": np.bool_(True),
    }
    results_io.atomic_write_json(str(path), payload)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    loaded = json.loads(text)  # strict JSON parses
    assert loaded == {
        "nan": None, "inf": None, "ninf": None, "ok": 1.5, "array": [1.0, None, 2.0], "np_scalar": None,
        "nested": [{"x": None}], "int": 3, "bool": True,
    }
    assert results_io.read_json(str(path)) == loaded


def test_read_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"rows": [1, 2')
    with pytest.raises(ValueError, match="broken.json"):
        results_io.read_json(str(path))


def test_csv_round_trip(tmp_path):
    rows = [
        {"network": 0, "lr": 0.1, "test_error": 0.123456789012345, "diverged": False, "name": "rectifier"},
        {"network": 1, "lr": 1e-4, "test_error": float("nan"), "diverged": True, "name": "tanh"},
        {"network": 2, "lr": 3.0, "test_error": 1 / 3, "diverged": False, "name": "a,b \"quoted\""},
    ]
    path = tmp_path / "results.csv"
    columns = ["network", "lr", "test_error", "diverged", "name"]
    results_io.atomic_write_csv(str(path), rows, columns)
    with open(path, newline="") as handle:
        read = list(csv.DictReader(handle))
    assert list(read[0]) == columns
    assert len(read) == 3
    for row, back in zip(rows, read):
        assert int(back["network"]) == row["network"]
        assert float(back["lr"]) == row["lr"]
        if np.isnan(row["test_error"]):
            assert back["test_error"] == ""
        else:
            assert float(back["test_error"]) == row["test_error"]  # repr: exact float round trip
        assert back["diverged"] == str(row["diverged"])
        assert back["name"] == row["name"]


def test_csv_lists_and_missing_columns(tmp_path):
    path = tmp_path / "r.csv"
    results_io.atomic_write_csv(str(path), [{"a": [0.5, 0.25], "b": 1}, {"a": [1.0]}])
    with open(path, newline="") as handle:
        read = list(csv.DictReader(handle))
    assert [float(v) for v in read[0]["a"].split()] == [0.5, 0.25]
    assert read[1]["b"] == ""


def test_provenance(tmp_path):
    record = results_io.provenance(["-m", "sweeps.figure3", "--preset", "quick"])
    assert "sweeps.figure3 --preset quick" in record["command"]
    assert record["argv"] == ["-m", "sweeps.figure3", "--preset", "quick"]
    assert record["date_utc"].startswith("20") and record["date_utc"].endswith("+00:00")
    assert record["versions"]["jax"]
    assert record["versions"]["python"]
    assert record["machine"]["cpu_count"] == os.cpu_count()
    assert record["machine"]["jax_backend"]
    assert record["machine"]["devices"]
    # The whole record is JSON-serialisable.
    results_io.atomic_write_json(str(tmp_path / "p.json"), record)
    assert results_io.read_json(str(tmp_path / "p.json"))["versions"]["jax"] == record["versions"]["jax"]


def test_format_table():
    table = results_io.format_table(
        [{"a": 0.12345, "b": "x", "c": None}, {"a": 2, "b": True}], ["a", "b", "c"], {"a": ".2f"}
    )
    assert table.splitlines() == ["| a | b | c |", "|---|---|---|", "| 0.12 | x |  |", "| 2.00 | True |  |"]


@pytest.mark.parametrize("writer, payload", [
    (results_io.atomic_write_text, "text"), (results_io.atomic_write_json, {"x": 1}),
    (results_io.atomic_write_csv, [{"a": 1}]),
])
def test_written_files_take_the_umask_mode_not_the_temporary_files_0600(tmp_path, umask_022, writer, payload):
    writer(str(tmp_path / "shared" / "out"), payload)
    assert modes(tmp_path / "shared") == {"out": 0o644}  # readable by colleagues, as a plain open() gives
    os.umask(0o027)  # a stricter umask is followed too: the mode comes from it, not a fixed 0644
    writer(str(tmp_path / "shared" / "out"), payload)
    assert modes(tmp_path / "shared") == {"out": 0o640}


def test_the_umask_is_read_without_changing_it(umask_022):
    assert results_io.current_umask() == 0o022
    assert (results_io.file_mode(), results_io.folder_mode()) == (0o644, 0o755)
    assert os.umask(0o022) == 0o022
