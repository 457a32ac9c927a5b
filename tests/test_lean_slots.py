"""The lean-checkpoint and idle-slot benchmark runs on tiny sizes: the lean checkpoints write fewer
bytes with the same rows, and its slot accounting agrees with the network-epochs the sweeps recorded."""
import json

from benchmarks import lean_slots


def test_lean_slots_quick(tmp_path):
    lean_slots.main(["--quick", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "benchmarks" / "results" / "lean_slots_quick.json").read_text())
    checkpoints = result["checkpoints"]
    assert checkpoints["rows_identical"] and checkpoints["ratio"] < 1
    slots = result["slots"]["sweep"]
    assert slots["recorded"] == slots["computed"]["1"] and slots["recorded_4_per_octave"] == slots["computed"]["4"]
    assert slots["real"] <= slots["computed"]["8"] <= slots["computed"]["4"] <= slots["computed"]["1"]
    assert slots["rows_identical_4_per_octave"]
    assert "ratio" in (tmp_path / "benchmarks" / "results" / "lean_slots_quick.md").read_text()


def test_accounting_of_recorded_chunks(tmp_path):
    chunks = tmp_path / "run" / "chunks"
    chunks.mkdir(parents=True)
    for name, epochs in (("a.json", [1, 2, 2, 4, 6]), ("b.json", [6, 6, 6, 6])):
        (chunks / name).write_text(json.dumps({"rows": [{"epochs_run": e} for e in epochs]}))
    found = lean_slots.accounting(lean_slots.folder_chunks(str(tmp_path / "run")))
    # slots 5: running 5, 4, 2, 2, 1, 1 (buckets 5, 4, 2, 2, 1, 1), then 4 for 6 epochs (4 each)
    assert found["real"] == 15 + 24 and found["computed"][1] == 15 + 24 == found["computed"][4]
    assert found["programs"][1] == 4  # sizes 5, 4, 2, 1 (the second chunk's 4 compiled once)
