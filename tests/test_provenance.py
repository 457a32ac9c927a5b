"""Results name no machine, their commit is the code's state, their floats are short and exact."""
import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from deep_sparse import portable, results_io
from deep_sparse.store import SweepStore, rows_checksum
from sweeps import common, figure3, migrate_results, table1, workshop_table2

REPO = portable.REPO_ROOT


def committed_results() -> list[str]:
    listed = subprocess.run(["git", "-C", REPO, "ls-files", "results"], capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the committed files cannot be listed")
    return listed.stdout.split()


def machine_paths_in(root: str, paths: list[str]) -> dict[str, list[str]]:
    """``{file: what names a machine}`` for the text files among ``paths`` (plots are binary)."""
    found = {}
    for path in paths:
        with open(os.path.join(root, path), "rb") as handle:
            raw = handle.read()
        if b"\0" in raw[:8192]:
            continue
        leaks = portable.machine_paths(raw.decode("utf-8", errors="replace"))
        if leaks:
            found[path] = leaks[:3]
    return found


def test_no_committed_result_names_a_machine():
    paths = committed_results()
    assert len(paths) > 100  # the scan reads the real folder, not an empty listing
    assert machine_paths_in(REPO, paths) == {}


@pytest.mark.parametrize("planted", ["/tmp/runs/x", "/work/main/results/table1-paper/mnist", "~/.cache/deep_sparse",
                                     "/home/me/data", "HTTPSConnectionPool(host='cs.nyu.edu', port=443)"])
def test_the_scan_finds_a_planted_path(tmp_path, planted):
    paths = [p for p in committed_results() if p.endswith(("results.json", "summary.md"))][:4]
    for path in paths:
        os.makedirs(tmp_path / os.path.dirname(path), exist_ok=True)
        shutil.copy(os.path.join(REPO, path), tmp_path / path)
    assert machine_paths_in(str(tmp_path), paths) == {}
    with open(tmp_path / paths[0], "a", encoding="utf-8") as handle:
        handle.write(f"\nrun with --out {planted}\n")
    assert list(machine_paths_in(str(tmp_path), paths)) == [paths[0]]


def test_portable_text():
    error = ("not run: loading norb from /root/.cache/deep_sparse failed (FetchError: https://cs.nyu.edu/~y/norb.mat.gz: "
             "ConnectionError: HTTPSConnectionPool(host='cs.nyu.edu', port=443): Max retries exceeded with url: "
             "/~y/norb.mat.gz (Caused by NameResolutionError(\"HTTPSConnection(host='cs.nyu.edu', port=443): "
             "Failed to resolve 'cs.nyu.edu'\")))")
    assert portable.portable_text(error) == ("not run: loading norb from DATA_DIR failed (FetchError: norb.mat.gz: "
                                             "ConnectionError: could not connect (NameResolutionError))")
    assert portable.portable_text("from /work/clone/results/table1-paper/mnist: network 5") == \
        "from results/table1-paper/mnist: network 5"
    assert portable.portable_text("see /tmp/x/y and results/z, 1.95 / 2.10%") == "see …/y and results/z, 1.95 / 2.10%"
    assert portable.portable_text("in /data/sets/mnist", data_dir="/data/sets") == "in DATA_DIR/mnist"


def test_the_recorded_command_names_no_machine(tmp_path):
    out = os.path.join(REPO, "results", "some-run")
    record = results_io.provenance(["-m", "sweeps.train", "--out", out, "--data-dir", str(tmp_path),
                                    "--reuse-rows-from", "/work/other/results/table1-paper/mnist"], out=out)
    assert record["argv"] == ["-m", "sweeps.train", "--out", "results/some-run", "--data-dir", "DATA_DIR",
                              "--reuse-rows-from", "results/table1-paper/mnist"]
    assert portable.machine_paths(json.dumps(record["command"])) == []
    assert "hostname" not in record["machine"] and record["machine"]["cpu_count"]
    outside = results_io.provenance(["-m", "sweeps.train", "--out", str(tmp_path / "x")], out=str(tmp_path / "x"))
    assert outside["argv"][-1] == "…/x"


def test_a_notebook_records_no_command(monkeypatch):
    """In a Jupyter kernel sys.argv is IPython's launcher and its connection file: no command that
    runs the computation again, and a machine path."""
    monkeypatch.setattr(sys, "argv", ["/opt/venv/lib/python3.11/site-packages/ipykernel_launcher.py", "-f",
                                      "/home/someone/.local/share/jupyter/runtime/kernel-1.json"])
    record = results_io.provenance()
    assert record["command"] is None and record["argv"] == []
    monkeypatch.setattr(sys, "argv", ["-m", "sweeps.train", "--out", "runs/x"])
    assert results_io.provenance()["argv"] == ["-m", "sweeps.train", "--out", "runs/x"]


def _git(root, *args):
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


def test_result_files_do_not_make_the_commit_dirty(tmp_path):
    for name in ("code.py", "results/old/results.json", "runs/mine/results.json"):
        os.makedirs(tmp_path / os.path.dirname(name), exist_ok=True)
        (tmp_path / name).write_text("0\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "x")
    (tmp_path / "results/old/results.json").write_text("1\n")
    (tmp_path / "runs/mine/results.json").write_text("1\n")
    commit = results_io.git_commit([str(tmp_path / "runs/mine")], root=str(tmp_path))
    assert commit and not commit.endswith("+dirty")
    assert results_io.git_commit((), root=str(tmp_path)).endswith("+dirty")  # runs/ is not this run's --out
    (tmp_path / "code.py").write_text("1\n")
    assert results_io.git_commit([str(tmp_path / "runs/mine")], root=str(tmp_path)).endswith("+dirty")


def test_csv_floats_are_written_short_and_read_back_as_the_same_float32(tmp_path):
    noisy = float(np.float32(1.67))  # 1.6699999570846558
    rows = [{"test_error": noisy, "lr": 0.1, "third": 1 / 3, "curve": [noisy, float(np.float32(0.0162))]}]
    results_io.atomic_write_csv(str(tmp_path / "r.csv"), rows)
    with open(tmp_path / "r.csv", newline="") as handle:
        back = next(csv.DictReader(handle))
    assert back["test_error"] == "1.67" and back["curve"] == "1.67 0.0162"
    assert np.float32(float(back["test_error"])) == np.float32(noisy)
    assert float(back["lr"]) == 0.1 and float(back["third"]) == 1 / 3  # float64 values keep repr


def test_migrating_keeps_numbers_and_checksums_and_the_folder_resumes(tmp_path):
    folder = tmp_path / "results" / "run"
    rows = [{"network": 0, "group": 0, "seed": 0, "test_error": float(np.float32(0.0199)),
             "reused_from": "/work/main/results/table1-paper/mnist: network 37"}]
    os.makedirs(folder / "chunks")
    results_io.atomic_write_json(str(folder / "chunks" / "group000_reused_00000-00000.json"),
                                 {"rows": rows, "sha256": rows_checksum(rows)})
    results_io.atomic_write_json(str(folder / "results.json"), {
        "command": "python -m sweeps.train --out /tmp/runs/r --reuse-rows-from /work/main/results/table1-paper/mnist",
        "argv": ["-m", "sweeps.train", "--out", "/tmp/runs/r"], "rows": rows})
    results_io.atomic_write_csv(str(folder / "results.csv"), [dict(rows[0], test_error=repr(rows[0]["test_error"]))])
    changed = migrate_results.migrate(str(tmp_path / "results"), repo_root=str(tmp_path))
    assert len(changed) == 3
    assert machine_paths_in(str(folder), ["results.json", "results.csv", "chunks/group000_reused_00000-00000.json"]) == {}
    recorded = results_io.read_json(str(folder / "results.json"))
    assert recorded["command"] == ("python -m sweeps.train --out results/run "
                                   "--reuse-rows-from results/table1-paper/mnist")
    assert recorded["rows"][0]["test_error"] == rows[0]["test_error"]  # numbers untouched
    finished = SweepStore(str(folder)).finished_rows({0: (0, 0)})  # what --resume checks
    assert finished[0]["reused_from"] == "results/table1-paper/mnist: network 37"
    assert "0.0199," in (folder / "results.csv").read_text()
    assert migrate_results.migrate(str(tmp_path / "results"), repo_root=str(tmp_path)) == []  # idempotent


def test_a_row_reused_from_a_renamed_folder_is_pointed_at_the_folder_that_holds_its_donor(tmp_path):
    def network(k, test_error, curve):
        return {"network": k, "group": 0, "seed": 0, "activation": "tanh", "lr": 0.01, "l1": 0.0,
                "valid_error": 0.018, "test_error": test_error, "curves": {"valid_error": curve}}
    renamed = network(9, 0.0193, [0.03, 0.018])  # the donor, now under the renamed folder
    results_io.atomic_write_json(str(tmp_path / "results/table1-paper-mean-cost/mnist/results.json"),
                                 {"rows": [renamed]})
    # the old name now holds another sweep, whose network 9 is a different network
    results_io.atomic_write_json(str(tmp_path / "results/table1-paper/mnist/results.json"),
                                 {"rows": [network(9, 0.0265, [0.04, 0.02]), network(3, 0.02, [0.05])]})
    moved = dict(renamed, network=0, reused_from="results/table1-paper/mnist: network 9")
    kept = dict(network(3, 0.02, [0.05]), network=1, reused_from="results/table1-paper/mnist: network 3")
    unknown = dict(network(9, 0.0111, [0.1]), network=2, reused_from="results/table1-paper/mnist: network 9")
    rows = [moved, kept, unknown]
    folder = tmp_path / "results/diagnostics/seeds-tanh"
    results_io.atomic_write_json(str(folder / "results.json"), {"rows": rows})
    results_io.atomic_write_json(str(folder / "chunks/group000_reused_00000-00002.json"),
                                 {"rows": rows, "sha256": rows_checksum(rows)})
    results_io.atomic_write_csv(str(folder / "results.csv"), [{k: v for k, v in r.items() if k != "curves"}
                                                              for r in rows])
    migrate_results.migrate(str(tmp_path / "results"), repo_root=str(tmp_path))
    pointed = [r["reused_from"] for r in results_io.read_json(str(folder / "results.json"))["rows"]]
    assert pointed == ["results/table1-paper-mean-cost/mnist: network 9",  # its values and curves are there
                       "results/table1-paper/mnist: network 3",  # the folder's own network: kept
                       "results/table1-paper/mnist: network 9"]  # found in neither: left as recorded
    with open(folder / "results.csv", newline="") as handle:
        assert [r["reused_from"] for r in csv.DictReader(handle)] == pointed
    finished = SweepStore(str(folder)).finished_rows({k: (0, 0) for k in range(3)})  # checksum recomputed
    assert [finished[k]["reused_from"] for k in range(3)] == pointed
    assert migrate_results.migrate(str(tmp_path / "results"), repo_root=str(tmp_path)) == []


def test_migrating_refuses_a_folder_without_results(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("/tmp/x/y\n")
    assert migrate_results.main([str(tmp_path)]) == 1
    assert "no results.json or cells.json" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "/tmp/x/y\n"


def test_a_quick_summary_has_no_paper_column():
    cells = json.loads(open(os.path.join(REPO, "results", "table1-quick", "cells.json")).read())["cells"]
    quick = table1.summarize(cells, "quick", "reduced")
    header = next(line for line in quick.splitlines() if line.startswith("| "))
    assert "paper" not in header and "equivalent" not in header and "| p |" not in header
    paper = table1.summarize(cells, "paper", "paper scale")
    assert "paper %" in paper and "equivalent" in paper  # the paper preset still compares
    summary = common.cells_summary("t", [dict(cells[0], paper_key="aistats.table1.mnist.rectifier.no_pretraining")],
                                   "quick", "reduced")
    assert "difference" not in summary and "paper" not in summary.splitlines()[-3]
    workshop = [dict(cells[0], paper_key="workshop.table2.rectifier_l1.test", sd=None)]
    assert "paper %" not in workshop_table2.summarize(workshop, "quick", "reduced")
    assert "paper %" in workshop_table2.summarize(workshop, "paper", "paper scale")
    rows = results_io.read_json(os.path.join(REPO, "results", "figure3-quick", "results.json"))["rows"]
    assert "Paper" not in figure3.summarize(rows, "quick", "reduced")
    assert "Paper: no loss of accuracy" in figure3.summarize(rows, "paper", "paper scale")
    for path in committed_results():
        if path.endswith("summary.md") and "-quick/" in path:
            header = next((line for line in open(os.path.join(REPO, path)) if line.startswith("| ")), "")
            assert "| paper" not in header and "difference" not in header, path


def test_the_results_readme_is_a_short_index_of_every_folder():
    folders = {p.split("/")[1] for p in committed_results() if p.count("/") >= 2}
    readme = open(os.path.join(REPO, "results", "README.md"), encoding="utf-8").read().splitlines()
    assert len(readme) < 100
    for folder in folders:
        assert sum(line.startswith(f"- [`{folder}/`]") for line in readme) == 1, folder
        provenance = os.path.join(REPO, "results", folder, "PROVENANCE.md")
        assert os.path.exists(provenance), folder
        if folder.endswith("-quick"):
            assert "REDUCED" in open(provenance, encoding="utf-8").readline(), folder


def test_a_resumed_sweep_records_its_earlier_commands_without_their_paths(tmp_path):
    out = tmp_path / "sweep"
    results_io.atomic_write_json(str(out / "results.json"), {
        "command": "python -m sweeps.figure3 --out /root/out/figure3 --data-dir /data/x", "git_commit": "abc",
        "argv": ["-m", "sweeps.figure3", "--out", "/root/out/figure3"], "rows": []})
    (earlier,) = SweepStore(str(out)).previous_runs()
    assert earlier["command"] == "python -m sweeps.figure3 --out …/sweep --data-dir DATA_DIR"
    assert earlier["git_commit"] == "abc"


def test_a_broken_file_is_named_in_one_line_and_nothing_is_rewritten(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "results.json").write_text('{"command": "python -m x --out /tmp/runs/a", "rows": []}\n')
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "results.json").write_text('{"rows": [1, 2')
    assert migrate_results.main([str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "b/results.json: not valid" in error
    assert "/tmp/runs/a" in (tmp_path / "a" / "results.json").read_text()


def test_the_committed_results_are_already_migrated():
    # a file the migration would still change holds text that new runs would no longer record
    assert [p for p in committed_results() if migrate_results.migrated_text(os.path.join(REPO, p), REPO)] == []
