"""The command line as a user meets it: a finished folder asked for again, --help without JAX, the
compilation cache and the matmul precision options."""
import argparse
import json
import os

import pytest

from deep_sparse import sweep
from deep_sparse.config import TrainConfig
from sweeps import common
from test_sweep import make_data

TINY = TrainConfig(num_classes=3, hidden_sizes=(8,), batch_size=10, epochs=2, patience=None)


def tiny_main(argv):
    """A one-network experiment module: its sweep, then its summary.md."""
    parser = argparse.ArgumentParser()
    common.add_run_arguments(parser, default_out="runs/tiny")
    args = parser.parse_args(argv)
    rows = sweep.run(TINY, [{"seed": 0}], args.out, make_data(TINY, n=(40, 20, 20)), resume=args.resume,
                     checkpoint_every=0, progress=False, argv=common.command_line("tests.tiny"))
    common.write_text(os.path.join(args.out, "summary.md"), f"# tiny: {len(rows)} network(s)\n")
    return 0


def invoke(monkeypatch, argv):
    monkeypatch.setattr("sys.argv", ["tiny", *argv])  # what the results record as the command
    return common.cli(tiny_main, argv)


def test_a_finished_folder_gives_its_summary_and_an_unfinished_one_the_flag_to_pass(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    assert invoke(monkeypatch, ["--out", out]) == 0
    capsys.readouterr()
    assert invoke(monkeypatch, ["--out", out]) == 0  # the same command again: the finished run, exit 0
    printed = capsys.readouterr()
    assert "# tiny: 1 network(s)" in printed.out and "already finished" in printed.out and out in printed.out
    assert printed.err == ""

    # other options than the finished run's, or a run not finished: the command line's flag, never the API's
    assert invoke(monkeypatch, ["--out", out, "--checkpoint-every", "2"]) == common.EXIT_ERROR
    assert "add --resume" in capsys.readouterr().err
    results = os.path.join(out, "results.json")
    with open(results) as handle:
        record = json.load(handle)
    with open(results, "w") as handle:
        json.dump(dict(record, complete=False), handle)
    assert invoke(monkeypatch, ["--out", out]) == common.EXIT_ERROR
    err = capsys.readouterr().err
    assert "add --resume" in err and "resume=True" not in err
