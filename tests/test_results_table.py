"""deep_sparse.results.load: a results folder as one DataFrame, one row per recorded network."""
import os

import pytest

from deep_sparse import results, results_io

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(folder, payload):
    results_io.atomic_write_json(str(folder / "results.json"), payload)


def test_every_network_of_every_sweep_with_where_it_was_recorded(tmp_path):
    row = {"network": 0, "lr": 0.1, "valid_error": 0.02, "test_error": 0.021, "curves": {"valid_error": [0.1]},
           "test_wrong": {"examples": 2, "packed_hex": "40"}}
    write(tmp_path / "a", {"experiment": "figure3", "preset": "quick", "date_utc": "2026-12-03", "rows": [row]})
    write(tmp_path / "b" / "mnist", {"experiment": "table1", "preset": "paper", "dataset": "mnist",
                                     "rows": [dict(row, network=0), dict(row, network=1, lr=0.01)]})
    (tmp_path / "b" / "mnist" / "chunks").mkdir()  # working folders are not searched
    write(tmp_path / "b" / "mnist" / "chunks", {"rows": [row]})
    frame = results.load(str(tmp_path))
    assert len(frame) == 3 and sorted(frame.folder) == ["a", "b/mnist", "b/mnist"]
    assert list(frame[frame.folder == "b/mnist"].lr) == [0.1, 0.01]
    assert set(frame.experiment) == {"figure3", "table1"} and "curves" not in frame and "test_wrong" not in frame
    assert "curves" in results.load(str(tmp_path), curves=True)


def test_an_empty_folder_gives_an_empty_table_and_a_missing_one_says_so(tmp_path):
    assert results.load(str(tmp_path)).empty
    with pytest.raises(FileNotFoundError, match="absent: no such results folder"):
        results.load(str(tmp_path / "absent"))


def test_the_recorded_results_load():
    frame = results.load(os.path.join(REPO, "results"))
    table1 = frame[(frame.folder == "table1-paper-mean-cost/mnist")]
    assert len(table1) == 32 and table1.test_error.between(0, 1).all()  # the 80 less the stacks not fine-tuned
