"""The command line as a user meets it: a finished folder asked for again, --help without JAX, the
compilation cache and the matmul precision options."""
import argparse
import json
import os
import subprocess
import sys

import pytest

from deep_sparse import runtime, sweep
from deep_sparse.config import TrainConfig
from deep_sparse.sweep import SweepOptions
from sweeps import common
from test_sweep import make_data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = TrainConfig(num_classes=3, hidden_sizes=(8,), batch_size=10, epochs=2, patience=None)


def tiny_main(argv):
    """A one-network experiment module: its sweep, then its summary.md."""
    parser = argparse.ArgumentParser()
    common.add_run_arguments(parser, default_out="runs/tiny")
    args = parser.parse_args(argv)
    rows = sweep.run(TINY, [{"seed": 0}], args.out, make_data(TINY, n=(40, 20, 20)),
                     options=SweepOptions(resume=args.resume, checkpoint_every=0, progress=False,
                                          argv=common.command_line("tests.tiny")))
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


def test_results_and_rows_record_the_pinned_matmul_precision(tmp_path):
    assert runtime.matmul_precision() == "highest"  # pinned by importing the library
    rows = sweep.run(TINY, [{"seed": 0}], str(tmp_path / "out"), make_data(TINY, n=(40, 20, 20)),
                     options=SweepOptions(checkpoint_every=0, progress=False, log=lambda message: None))
    with open(tmp_path / "out" / "results.json") as handle:
        record = json.load(handle)
    assert record["matmul_precision"] == "highest" and rows[0]["matmul_precision"] == "highest"
    assert record["rows"][0]["matmul_precision"] == "highest"


PRECISION_AFTER = ("import sys; from sweeps import common, figure3; "
                   "args = figure3.build_parser().parse_args(sys.argv[1:]); common.configure_jax(args); "
                   "from deep_sparse import runtime; print(runtime.matmul_precision())")


@pytest.mark.parametrize("environment, flags, expected", [
    ({}, [], "highest"),
    ({}, ["--matmul-precision", "tensorfloat32"], "tensorfloat32"),
    ({"JAX_DEFAULT_MATMUL_PRECISION": "tensorfloat32"}, [], "highest"),  # the command's option decides
])
def test_the_matmul_precision_option(environment, flags, expected):
    env = {k: v for k, v in os.environ.items() if k != "JAX_DEFAULT_MATMUL_PRECISION"}
    done = subprocess.run([sys.executable, "-c", PRECISION_AFTER, *flags], cwd=REPO, capture_output=True, text=True,
                          env={**env, **environment}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == expected


def test_the_library_keeps_a_precision_the_process_chose():
    env = dict(os.environ, JAX_DEFAULT_MATMUL_PRECISION="tensorfloat32")
    done = subprocess.run([sys.executable, "-c", "import deep_sparse.train, jax; "
                           "print(jax.config.jax_default_matmul_precision)"],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert done.stdout.split()[-1] == "tensorfloat32", done.stderr


COMPILE = ("import sys; from sweeps import common, figure3; import jax, jax.numpy as jnp; "
           "common.configure_jax(figure3.build_parser().parse_args(sys.argv[1:])); "
           "jax.jit(lambda x: x @ x + 1).lower(jnp.ones((3, 3))).compile()")


@pytest.mark.parametrize("flags, cached", [([], True), (["--no-compilation-cache"], False)])
def test_compiled_programs_are_kept_in_the_cache_folder_unless_turned_off(tmp_path, flags, cached):
    cache = tmp_path / "cache"
    env = dict(os.environ, DEEP_SPARSE_CACHE=str(cache))
    done = subprocess.run([sys.executable, "-c", COMPILE, *flags], cwd=REPO, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    entries = os.listdir(cache) if cache.exists() else []
    assert bool(entries) == cached, entries  # a program under a second to compile is kept too


def test_the_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEP_SPARSE_CACHE", str(tmp_path / "mine"))
    assert runtime.compilation_cache_dir() == str(tmp_path / "mine")
    monkeypatch.delenv("DEEP_SPARSE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert runtime.compilation_cache_dir() == str(tmp_path / "xdg" / "deep_sparse" / "jax-cache")


COMMANDS = ("campaign", "figure3", "figure4", "ill_conditioning", "pretrain_strategies", "report", "sentiment",
            "softplus_alpha", "sparsity", "table1", "train", "workshop_table2")
PARSERS_WITHOUT_JAX = ("import importlib, sys\n"
                       "for name in sys.argv[1:]:\n"
                       "    importlib.import_module('sweeps.' + name).build_parser()\n"
                       "    assert 'jax' not in sys.modules, name + ' imported jax'\n"
                       "print('no jax')")


def test_every_command_builds_its_parser_without_importing_jax():
    done = subprocess.run([sys.executable, "-c", PARSERS_WITHOUT_JAX, *COMMANDS], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "no jax", done.stderr[-2000:]


def test_help_of_the_main_command_imports_no_jax():
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "sweeps.figure3", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "--no-compilation-cache" in done.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert "jax" not in imported and "numpy" in imported  # the import log is read, and holds no JAX
