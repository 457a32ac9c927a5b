"""The sweep engine (issue 5): grids, equivalence with single runs, isolation, groups, results files,
resume (including after SIGKILL), memory refusal, shared pre-training, reuse, bad input (several
devices and processes: test_sweep_devices.py)."""
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deep_sparse import executor as executor_module
from deep_sparse import stacks as stacks_module
from deep_sparse import results_io, reuse, runtime, selection, sweep
from deep_sparse.executor import ChunkExecutor
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.names import DeadlineReached
from deep_sparse.planner import (
    Network, balanced_chunks, bucket_size, chunk_slots, normalize_grid, plan, stack_signature,
)
from deep_sparse.rows import pack_wrong, pretrain_reconstruction, unpack_wrong
from deep_sparse.store import SweepStore, read_results, rows_checksum
from deep_sparse.sweep import SweepOptions
from deep_sparse.train import make_train, prepare_data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))
CONFIG = TrainConfig(num_classes=3, hidden_sizes=(16, 16), batch_size=10, epochs=3, patience=None)
GRID = {"lr": [0.1, 0.03], "l1": [0.0, 1e-3], "seed": [0, 1]}
QUIET = dict(progress=False, log=lambda message: None)


def make_data(config=CONFIG, seed=0, n=(200, 60, 60), d=20, k=3):
    """Deterministic Gaussian blobs (also imported by the subprocesses below)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, (k, d))
    splits = {}
    for name, m in zip(("train", "valid", "test"), n):
        y = rng.integers(0, k, m)
        x = centers[y] + rng.normal(0.0, 1.5, (m, d))
        splits[name] = (x.astype(np.float32), y.astype(np.int32))
    return prepare_data(config, splits)


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.fixture(scope="module")
def single_runs(data):
    """``(lr, l1, seed) -> Result`` of ``make_train(CONFIG)(PRNGKey(seed), Hparams(...), data)`` alone."""
    # the sweep and the networks alone compare under the precision every sweep runs at unless told
    assert runtime.matmul_precision() == runtime.DEFAULT_MATMUL_PRECISION == "highest"
    train = jax.jit(make_train(CONFIG))
    return {
        (p["lr"], p["l1"], p["seed"]): jax.device_get(
            train(jax.random.PRNGKey(p["seed"]), Hparams(lr=p["lr"], l1=p["l1"]), data)
        )
        for p in sweep.product(**GRID)
    }


@pytest.fixture(scope="module")
def sweep_dirs(data, tmp_path_factory):
    """The grid swept with chunks of 1 and of 4 networks: ``{chunk_size: (out_dir, rows)}``."""
    out = {}
    for chunk_size in (1, 4):
        out_dir = str(tmp_path_factory.mktemp(f"sweep_chunk{chunk_size}"))
        rows = sweep.run(CONFIG, GRID, out_dir, data,
                         options=SweepOptions(chunk_size=chunk_size, checkpoint_every=0,
                                              argv=["test_sweep", f"--chunk-size={chunk_size}"], **QUIET))
        out[chunk_size] = (out_dir, rows)
    return out


def assert_row_matches(row, result):
    for name in ("test_error", "valid_error", "train_error", "sparsity"):
        np.testing.assert_allclose(row[name], float(getattr(result, name)), rtol=1e-5, atol=1e-6, err_msg=name)
    for layer, value in enumerate(np.asarray(result.sparsity_per_layer)):
        np.testing.assert_allclose(row[f"sparsity_layer_{layer + 1}"], value, rtol=1e-5, atol=1e-6)
    assert row["epochs_run"] == int(result.epochs_run)
    assert row["best_epoch"] == int(result.best_epoch)
    assert row["diverged"] == bool(result.diverged)
    np.testing.assert_array_equal(unpack_wrong(row["test_wrong"]), np.asarray(result.test_example_errors) > 0.5)


@given(st.lists(st.booleans(), max_size=50))
def test_wrong_examples_pack_and_unpack(wrong):
    packed = pack_wrong(wrong)
    assert packed["examples"] == len(wrong) and len(packed["packed_hex"]) == 2 * -(-len(wrong) // 8)
    np.testing.assert_array_equal(unpack_wrong(json.loads(json.dumps(packed))), np.asarray(wrong, bool))


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------------------------ grids
def test_product_and_normalize_grid():
    points = sweep.product(l1=[0.0, 1e-3], seed=range(3))
    assert len(points) == 6
    assert points[0] == {"l1": 0.0, "seed": 0} and points[-1] == {"l1": 1e-3, "seed": 2}
    assert normalize_grid({"l1": [0.0, 1e-3], "seed": range(3)}) == points
    explicit = [{"lr": 0.1, "seed": 3}, {"lr": 0.01, "activation": "tanh"}]
    assert normalize_grid(explicit) == explicit
    assert normalize_grid(iter(explicit)) == explicit


@pytest.mark.parametrize("make", [
    lambda: sweep.product(learning_rate=[0.1]),
    lambda: normalize_grid({"lr": [0.1], "bogus_field": [1]}),
    lambda: normalize_grid([{"lr": 0.1}, {"lr": 0.1, "bogus_field": 1}]),
])
def test_unknown_grid_names_are_named(make):
    with pytest.raises(ValueError, match=r"(learning_rate|bogus_field).*known fields.*lr"):
        make()


def test_empty_grids():
    with pytest.raises(ValueError, match="seed"):
        sweep.product(lr=[0.1], seed=[])
    with pytest.raises(ValueError, match="no points"):
        normalize_grid([])


@pytest.mark.parametrize("point, name", [
    ({"lr": "fast"}, "lr"),
    ({"lr": 0.0}, "lr"),
    ({"lr": -0.1}, "lr"),
    ({"pretrain_lr": 0.0}, "pretrain_lr"),
    ({"l1": -1e-3}, "l1"),
    ({"l1": float("nan")}, "l1"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"alpha": None}, "alpha"),
])
def test_bad_grid_values_are_named(point, name):
    with pytest.raises(ValueError, match=rf"grid point 1: {name}\b"):
        plan(CONFIG, [{"lr": 0.1}, point])


def test_bad_structural_value_is_rejected():
    with pytest.raises(ValueError, match="activation"):
        plan(CONFIG, [{"activation": "relu6"}])


def test_plan_groups_structural_choices():
    grid = sweep.product(activation=["rectifier", "tanh"], l1=[0.0, 1e-3], seed=[0])
    groups = plan(CONFIG, grid)
    assert [g.config.activation for g in groups] == ["rectifier", "tanh"]
    assert [[n.index for n in g.networks] for g in groups] == [[0, 1], [2, 3]]
    assert groups[1].config.replace(activation="rectifier") == CONFIG
    # Traced hyperparameters alone make one group.
    assert len(plan(CONFIG, GRID)) == 1
    sizes = plan(CONFIG, [{"hidden_sizes": [8]}, {"hidden_sizes": (8,)}, {"hidden_sizes": (8, 8)}])
    assert [[n.index for n in g.networks] for g in sizes] == [[0, 1], [2]]


# ------------------------------------------------------------------------------ equivalence
@pytest.mark.parametrize("chunk_size", [1, 4])
def test_every_row_equals_a_single_run(sweep_dirs, single_runs, chunk_size):
    _, rows = sweep_dirs[chunk_size]
    points = sweep.product(**GRID)
    assert len(rows) == len(points) == 8
    for index, (row, point) in enumerate(zip(rows, points)):
        assert row["network"] == index
        assert (row["lr"], row["l1"], row["seed"]) == (point["lr"], point["l1"], point["seed"])
        assert_row_matches(row, single_runs[(point["lr"], point["l1"], point["seed"])])
    # Not a degenerate grid: the networks differ.
    assert len({row["test_error"] for row in rows} | {row["sparsity"] for row in rows}) > 4


def test_the_number_of_classes_is_read_from_the_data_when_the_config_leaves_it_unset(data, sweep_dirs, single_runs,
                                                                                      tmp_path):
    # the README's ds.sweep.run(config, grid, out_dir): TrainConfig.num_classes defaults to None, and the
    # compiled sweep traces the data, where the classes can no longer be counted; data built by hand
    # may not carry Data.num_classes either
    points = sweep.product(**GRID)[:2]
    rows = sweep.run(CONFIG.replace(num_classes=None), points, str(tmp_path / "unset"), data.replace(num_classes=None),
                     options=SweepOptions(chunk_size=2, **QUIET))
    for row, point in zip(rows, points):
        assert_row_matches(row, single_runs[(point["lr"], point["l1"], point["seed"])])


def test_results_files(sweep_dirs):
    for chunk_size, (out_dir, rows) in sweep_dirs.items():
        csv_rows = read_csv(os.path.join(out_dir, "results.csv"))
        assert len(csv_rows) == 8
        for row, back in zip(rows, csv_rows):
            for name in ("network", "seed", "epochs_run", "best_epoch"):
                assert int(back[name]) == row[name]
            for name in ("lr", "l1"):  # settings: float64, written exactly
                assert float(back[name]) == row[name]
            # measured values are float32, written at their shortest form: the same float32 read back
            for name in ("test_error", "valid_error", "sparsity", "sparsity_layer_1", "sparsity_layer_2"):
                assert np.float32(float(back[name])) == np.float32(row[name])
            assert back["diverged"] == str(row["diverged"])
        assert "curves" not in csv_rows[0]
        assert not any("second" in column or "time" in column for column in csv_rows[0])

        with open(os.path.join(out_dir, "results.json")) as handle:
            record = json.load(handle)
        assert record["complete"] is True
        assert len(record["rows"]) == 8
        assert record["rows"][3]["test_error"] == rows[3]["test_error"]
        assert len(record["rows"][0]["curves"]["valid_error"]) == CONFIG.epochs
        assert record["command"].endswith(f"test_sweep --chunk-size={chunk_size}")
        assert record["versions"]["jax"] == jax.__version__
        assert record["machine"]["cpu_count"] == os.cpu_count()
        assert record["machine"]["devices"]
        assert record["timings"]["wall_seconds"] > 0
        assert record["timings"]["groups"][0]["chunk_size"] == chunk_size
        assert read_results(out_dir) == record["rows"]
        assert not [name for name in os.listdir(out_dir) if name.startswith(".tmp-")]


def test_the_selected_networks_keep_their_per_example_test_errors_in_results_json(sweep_dirs, data):
    # a paired test (McNemar) on the selected networks reads these instead of retraining a copy
    out_dir, _ = sweep_dirs[1]
    recorded = results_io.read_json(os.path.join(out_dir, "results.json"))["rows"]
    chosen = [selection.select(recorded, selection.by_fields("l1"))[key] for key in ((0.0,), (1e-3,))]
    for row in chosen:
        wrong = unpack_wrong(row["test_wrong"])
        assert wrong.shape == (data.x_test.shape[0],)
        assert wrong.mean() == pytest.approx(row["test_error"], abs=1e-6)


def test_isolation_of_a_diverging_network(data, sweep_dirs, tmp_path):
    # The diverging network shares a chunk (one vmap) with three good ones.
    grid = [{"lr": 0.1, "l1": 0.0, "seed": 0}, {"lr": 1e4, "l1": 0.0, "seed": 0},
            {"lr": 0.1, "l1": 1e-3, "seed": 1}, {"lr": 0.03, "l1": 0.0, "seed": 1}]
    rows = sweep.run(CONFIG, grid, str(tmp_path / "out"), data,
                     options=SweepOptions(chunk_size=4, checkpoint_every=0, **QUIET))
    assert [row["diverged"] for row in rows] == [False, True, False, False]
    assert np.isfinite(rows[1]["test_error"])
    reference = {(r["lr"], r["l1"], r["seed"]): r for r in sweep_dirs[4][1]}
    for row in (rows[0], rows[2], rows[3]):
        same = reference[(row["lr"], row["l1"], row["seed"])]
        for name in ("test_error", "valid_error", "train_error", "sparsity", "epochs_run", "best_epoch"):
            assert row[name] == same[name], name
        assert row["curves"] == same["curves"]


def test_a_network_that_learned_nothing_is_flagged_collapsed(data, tmp_path):
    # lr 1e-6 leaves seed 1's network where it started: 70.5% training error where always answering
    # the most frequent class errs on 62% of the training set; finite loss (not diverged), and it
    # does not answer one class (not dead): nothing else marks it
    grid = [{"lr": 1e-6, "seed": 1}, {"lr": 0.1, "seed": 1}]
    rows = sweep.run(CONFIG, grid, str(tmp_path / "out"), data,
                     options=SweepOptions(chunk_size=2, checkpoint_every=0, **QUIET))
    assert [(r["diverged"], r["dead"], r["collapsed"]) for r in rows] == [(False, False, True), (False, False, False)]
    assert rows[0]["collapse_reason"].startswith("training error 70.50% is no better than always predicting the "
                                                 "most frequent training class (62.00%)")
    assert rows[1]["collapse_reason"] == ""
    assert [r["collapsed"] for r in read_csv(str(tmp_path / "out" / "results.csv"))] == ["True", "False"]


def test_structural_groups_run_separately(data, tmp_path):
    grid = sweep.product(activation=["rectifier", "tanh"], seed=[0])
    rows = sweep.run(CONFIG.replace(epochs=2), grid, str(tmp_path / "out"), data,
                     options=SweepOptions(checkpoint_every=0, **QUIET))
    assert [(row["group"], row["activation"]) for row in rows] == [(0, "rectifier"), (1, "tanh")]
    tanh = jax.jit(make_train(CONFIG.replace(epochs=2, activation="tanh")))(jax.random.PRNGKey(0), Hparams(), data)
    assert_row_matches(rows[1], tanh)
    assert rows[1]["sparsity"] == 0.0  # tanh units are never exactly zero here
    assert rows[0]["sparsity"] > 0.2
    record = read_results(str(tmp_path / "out"))
    assert len(record) == 2
    with open(tmp_path / "out" / "results.json") as handle:
        assert len(json.load(handle)["timings"]["groups"]) == 2


# ------------------------------------------------------------------------ out dir, resume
def test_rerun_without_resume_is_refused(data, sweep_dirs):
    out_dir, _ = sweep_dirs[1]
    with pytest.raises(FileExistsError, match="resume"):
        sweep.run(CONFIG, GRID, out_dir, data, options=SweepOptions(chunk_size=1, **QUIET))


@pytest.mark.parametrize("changes", [
    {"grid": {"lr": [0.1], "l1": [0.0, 1e-3], "seed": [0, 1]}},
    {"config": CONFIG.replace(epochs=4)},
    {"base_hparams": Hparams(pretrain_lr=0.5)},
])
def test_resume_with_different_settings_is_refused(data, sweep_dirs, changes):
    out_dir, _ = sweep_dirs[1]
    before = open(os.path.join(out_dir, "results.csv")).read()
    args = {"config": CONFIG, "grid": GRID, "base_hparams": None, **changes}
    with pytest.raises(ValueError, match="differs"):
        sweep.run(args["config"], args["grid"], out_dir, data, base_hparams=args["base_hparams"],
                  options=SweepOptions(resume=True, chunk_size=1, **QUIET))
    assert open(os.path.join(out_dir, "results.csv")).read() == before


def test_resume_of_a_finished_sweep_recomputes_nothing(data, sweep_dirs, monkeypatch):
    out_dir, rows = sweep_dirs[4]
    before = open(os.path.join(out_dir, "results.csv")).read()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished chunk was trained again")

    monkeypatch.setattr(sweep, "_run_chunk", no_training)
    again = sweep.run(CONFIG, GRID, out_dir, data, options=SweepOptions(chunk_size=4, resume=True, **QUIET))
    assert [r["test_error"] for r in again] == [r["test_error"] for r in rows]
    assert open(os.path.join(out_dir, "results.csv")).read() == before


def test_resume_with_another_chunk_size_keeps_finished_networks(data, sweep_dirs, tmp_path, monkeypatch):
    # A sweep started in chunks of 4 (as on a GPU), stopped after its first chunk, resumed in chunks of 1
    # (as on a CPU): the finished networks are not trained again, the others equal the reference.
    out_dir = str(tmp_path / "rechunk")
    real_run_chunk = sweep._run_chunk
    calls = []

    def stop_after_one_chunk(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real_run_chunk(*args, **kwargs)

    monkeypatch.setattr(sweep, "_run_chunk", stop_after_one_chunk)
    with pytest.raises(KeyboardInterrupt):
        sweep.run(CONFIG, GRID, out_dir, data, options=SweepOptions(chunk_size=4, checkpoint_every=0, **QUIET))
    assert os.listdir(os.path.join(out_dir, "chunks")) == ["group000_networks_00000-00003.json"]
    trained = []

    def counting(runner, group, networks, *args, **kwargs):
        trained.extend(n.index for n in networks)
        return real_run_chunk(runner, group, networks, *args, **kwargs)

    monkeypatch.setattr(sweep, "_run_chunk", counting)
    rows = sweep.run(CONFIG, GRID, out_dir, data,
                     options=SweepOptions(chunk_size=1, checkpoint_every=0, resume=True, **QUIET))
    assert trained == [4, 5, 6, 7]
    # bitwise against the same program: chunks of 4 for the first four networks, of 1 for the others
    reference = sweep_dirs[4][1][:4] + sweep_dirs[1][1][4:]
    assert [r["curves"] for r in rows] == [r["curves"] for r in reference]
    assert [r["test_error"] for r in rows] == [r["test_error"] for r in reference]


def test_rows_of_another_sweep_are_refused(data, sweep_dirs, tmp_path):
    out_dir = str(tmp_path / "foreign")
    sweep.run(CONFIG, GRID, out_dir, data, options=SweepOptions(chunk_size=4, checkpoint_every=0, **QUIET))
    path = os.path.join(out_dir, "chunks", "group000_networks_00000-00003.json")
    with open(path) as handle:
        record = json.load(handle)
    record["rows"][0]["seed"] = 7  # a row of another sweep, with a valid checksum
    record["sha256"] = rows_checksum(record["rows"])
    with open(path, "w") as handle:
        json.dump(record, handle)
    with pytest.raises(ValueError, match="group000_networks_00000-00003.json: network 0"):
        sweep.run(CONFIG, GRID, out_dir, data, options=SweepOptions(chunk_size=4, resume=True, **QUIET))


def test_deadline_stops_cleanly_and_resume_finishes_bitwise(data, sweep_dirs, tmp_path, monkeypatch):
    out_dir = str(tmp_path / "deadline")
    clock = {"now": 1000.0}
    monkeypatch.setattr(sweep.time, "time", lambda: clock["now"])
    real_run_chunk = sweep._run_chunk

    def slow_clock(*args, **kwargs):  # every chunk "takes" 100 s of the budget
        clock["now"] += 100.0
        return real_run_chunk(*args, **kwargs)

    monkeypatch.setattr(sweep, "_run_chunk", slow_clock)
    # 250 s of budget: chunks 1 and 2 finish; the deadline has passed when the third has run its first
    # epoch: it stops there, checkpointed.
    with pytest.raises(DeadlineReached, match="checkpointed"):
        sweep.run(CONFIG, GRID, out_dir, data,
                  options=SweepOptions(chunk_size=1, checkpoint_every=0, deadline=1250.0, **QUIET))
    assert sorted(os.listdir(os.path.join(out_dir, "chunks"))) == [
        "group000_networks_00000-00000.json", "group000_networks_00001-00001.json"]
    assert _checkpoint_steps(out_dir, "group000_networks_00002-00002") == ["1"]
    rows = sweep.run(CONFIG, GRID, out_dir, data,
                     options=SweepOptions(chunk_size=1, checkpoint_every=0, resume=True, **QUIET))
    assert [r["curves"] for r in rows] == [r["curves"] for r in sweep_dirs[1][1]]
    assert not os.path.exists(os.path.join(out_dir, "checkpoints", "group000_networks_00002-00002"))
    with open(os.path.join(out_dir, "results.json")) as handle:
        record = json.load(handle)
    # the first invocation's provenance is kept beside the resumed one's
    assert len(record["previous_runs"]) == 1 and record["previous_runs"][0]["machine"] == record["machine"]
    assert len(record["previous_runs"][0]["timings"]["groups"]) == 0  # it finished no group


def test_bad_chunk_size_and_checkpoint_every(data, tmp_path):
    with pytest.raises(ValueError, match="chunk_size"):
        sweep.run(CONFIG, GRID, str(tmp_path / "a"), data, options=SweepOptions(chunk_size=0, **QUIET))
    with pytest.raises(ValueError, match="checkpoint_every"):
        sweep.run(CONFIG, GRID, str(tmp_path / "b"), data, options=SweepOptions(checkpoint_every=-1, **QUIET))
    with pytest.raises(ValueError, match="checkpoint_seconds must be >= 0, got nan"):
        sweep.run(CONFIG, GRID, str(tmp_path / "c"), data,
                  options=SweepOptions(checkpoint_seconds=float("nan"), **QUIET))
    assert not any((tmp_path / name).exists() for name in "abc")  # refused before writing anything


# ---------------------------------------------------------------------------------- memory
def test_memory_refusal_suggests_a_chunk_size(data, tmp_path, monkeypatch):
    # Pretend each network needs 1 GB and 2.5 GB are available: 2 networks fit (85% headroom), 4 do not.
    monkeypatch.setattr(executor_module, "available_memory_bytes", lambda device: int(2.5e9))
    monkeypatch.setattr(ChunkExecutor, "memory_bytes", lambda self, networks, size: int(size * 1e9))
    messages = []
    with pytest.raises(MemoryError, match=r"use a chunk size of at most 2\b"):
        sweep.run(CONFIG, GRID, str(tmp_path / "out"), data,
                  options=SweepOptions(chunk_size=4, progress=False, log=messages.append))
    assert any("needs" in m and "GiB" in m for m in messages)  # the need is stated first
    assert not os.path.exists(tmp_path / "out" / "results.csv")


@pytest.mark.parametrize("exists", [False, True])
def test_a_chunk_refused_for_memory_leaves_the_folder_as_it_was(data, tmp_path, monkeypatch, exists):
    # the refusal comes once the epoch is compiled, after the plan was written: what that wrote goes
    monkeypatch.setattr(executor_module, "available_memory_bytes", lambda device: int(2.5e9))
    monkeypatch.setattr(ChunkExecutor, "memory_bytes", lambda self, networks, size: int(size * 1e9))
    out_dir = tmp_path / "runs" / "out"
    if exists:
        out_dir.mkdir(parents=True)
    with pytest.raises(MemoryError, match=r"use a chunk size of at most 2\b"):
        sweep.run(CONFIG, GRID, str(out_dir), data, options=SweepOptions(chunk_size=4, **QUIET))
    if exists:
        assert os.listdir(out_dir) == []
    else:
        assert not (tmp_path / "runs").exists()
    monkeypatch.undo()
    rows = sweep.run(CONFIG, {"lr": [0.1], "seed": [0]}, str(out_dir), data,
                     options=SweepOptions(checkpoint_every=0, **QUIET))
    assert len(rows) == 1  # the corrected command finds the folder as it was


def test_memory_refusal_when_nothing_fits(data, tmp_path, monkeypatch):
    monkeypatch.setattr(executor_module, "available_memory_bytes", lambda device: 1000)
    with pytest.raises(MemoryError, match="even one network per device does not fit"):
        sweep.run(CONFIG, GRID, str(tmp_path / "out"), data,
                  options=SweepOptions(chunk_size=4, progress=False, log=lambda m: None))


def test_memory_is_stated_before_starting(data, tmp_path):
    messages = []
    sweep.run(CONFIG, [{"seed": 0}], str(tmp_path / "out"), data,
              options=SweepOptions(checkpoint_every=0, progress=False, log=messages.append))
    memory = [m for m in messages if m.startswith("memory:")]
    assert memory and "needs" in memory[0] and "available" in memory[0]
    group = [m for m in messages if m.startswith("group 0")]
    assert group and messages.index(memory[0]) < messages.index(group[0])


# ------------------------------------------------------------------------- SIGKILL + resume
KILL_CONFIG = CONFIG.replace(epochs=6)
KILL_GRID = {"lr": [0.1, 0.03], "seed": [0, 1]}

SWEEP_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_sweep import KILL_CONFIG, KILL_GRID, make_data
    from deep_sparse import sweep
    sweep.run(KILL_CONFIG, KILL_GRID, sys.argv[1], make_data(KILL_CONFIG),
              options=sweep.SweepOptions(chunk_size=1, checkpoint_every=1, resume=sys.argv[2] == "resume",
                                         progress=False, argv=["kill-test"]))
    print("SWEEP DONE")
""").format(tests=TESTS)


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _checkpoint_steps(out_dir, chunk):
    directory = os.path.join(out_dir, "checkpoints", chunk)
    if not os.path.isdir(directory):
        return []
    return [name for name in os.listdir(directory) if name.isdigit()]


def test_sigkill_then_resume_gives_the_same_results(tmp_path):
    out_dir = str(tmp_path / "killed")
    process = subprocess.Popen([sys.executable, "-c", SWEEP_SCRIPT, out_dir, "fresh"], env=_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Kill it in the middle of the second chunk, once that chunk has an epoch checkpoint on disk.
        deadline = time.monotonic() + 120
        while not _checkpoint_steps(out_dir, "group000_networks_00001-00001"):
            assert process.poll() is None, f"the sweep ended before it could be killed:\n{process.stdout.read()}"
            assert time.monotonic() < deadline, "no checkpoint appeared within 120 s"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    # Killed mid-sweep: the first chunk is done, the second is not, the results are incomplete.
    assert os.path.exists(os.path.join(out_dir, "chunks", "group000_networks_00000-00000.json"))
    assert not os.path.exists(os.path.join(out_dir, "chunks", "group000_networks_00001-00001.json"))
    with open(os.path.join(out_dir, "results.json")) as handle:
        assert json.load(handle)["complete"] is False
    assert len(read_csv(os.path.join(out_dir, "results.csv"))) == 1

    resumed = subprocess.run([sys.executable, "-c", SWEEP_SCRIPT, out_dir, "resume"], env=_env(),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "SWEEP DONE" in resumed.stdout

    # The uninterrupted reference, run here.
    reference_dir = str(tmp_path / "reference")
    sweep.run(KILL_CONFIG, KILL_GRID, reference_dir, make_data(KILL_CONFIG),
              options=SweepOptions(chunk_size=1, checkpoint_every=0, argv=["kill-test"], **QUIET))
    with open(os.path.join(out_dir, "results.csv"), "rb") as handle:
        resumed_csv = handle.read()
    with open(os.path.join(reference_dir, "results.csv"), "rb") as handle:
        reference_csv = handle.read()
    assert resumed_csv == reference_csv
    assert len(read_csv(os.path.join(out_dir, "results.csv"))) == 4
    with open(os.path.join(out_dir, "results.json")) as handle:
        record = json.load(handle)
    assert record["complete"] is True
    # The curves (in results.json) agree too.
    assert [row["curves"] for row in record["rows"]] == [row["curves"] for row in read_results(reference_dir)]
    # Finished chunks leave no checkpoints behind.
    assert not any(_checkpoint_steps(out_dir, name) for name in os.listdir(os.path.join(out_dir, "checkpoints")))


# --------------------------------------------------------------------------------- sharding
def test_automatic_chunk_shrinks_to_fit(data, tmp_path, monkeypatch):
    monkeypatch.setattr(executor_module, "available_memory_bytes", lambda device: int(2.5e9))
    monkeypatch.setattr(ChunkExecutor, "memory_bytes", lambda self, networks, size: int(size * 1e9))
    messages = []
    rows = sweep.run(CONFIG, GRID, str(tmp_path / "out"), data,
                     options=SweepOptions(progress=False, checkpoint_every=0, log=messages.append))
    assert len(rows) == len(normalize_grid(GRID))
    assert any("chunk(s) of 2 " in m for m in messages), messages


# ------------------------------------------------------------------ shared pre-training (issue 11.4)
PRETRAIN_CONFIG = CONFIG.replace(pretrain_epochs=1, epochs=2)
PRETRAIN_GRID = {"lr": [0.1, 0.03, 0.01], "pretrain_lr": [0.01, 0.05], "seed": [0], "l1": [1e-3]}


def _spy_on_stages(monkeypatch, before):
    """Call ``before(executor, networks, stage names)`` ahead of every chunk's stages."""
    real = ChunkExecutor.run_stages

    def spy(self, state, networks, size, stages, **kwargs):
        before(self, networks, [stage.name for stage in stages])
        return real(self, state, networks, size, stages, **kwargs)

    monkeypatch.setattr(ChunkExecutor, "run_stages", spy)


def _stop_at_finetuning(out_dir, data, nth=1, **options):
    """Run the pre-training sweep until its ``nth`` fine-tuning chunk starts, and kill it there."""
    started = []

    def stop(executor, networks, names):
        if not names[0].startswith("pretrain"):
            started.append(networks)
            if len(started) == nth:
                raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        _spy_on_stages(patch, stop)
        with pytest.raises(KeyboardInterrupt):
            sweep.run(PRETRAIN_CONFIG, PRETRAIN_GRID, out_dir, data,
                      options=SweepOptions(checkpoint_every=0, **options, **QUIET))


@pytest.fixture(scope="module")
def pretrain_sweep(data, tmp_path_factory):
    """One sweep of PRETRAIN_GRID in chunks of 2: its rows, the stages each chunk ran, its messages."""
    trained, messages = [], []
    with pytest.MonkeyPatch.context() as monkeypatch:
        _spy_on_stages(monkeypatch, lambda executor, networks, names: trained.append(
            ([n.index for n in networks], names)))
        out_dir = tmp_path_factory.mktemp("pretrain") / "out"
        rows = sweep.run(PRETRAIN_CONFIG, PRETRAIN_GRID, str(out_dir), data,
                         options=SweepOptions(chunk_size=2, checkpoint_every=0, progress=False, log=messages.append))
    return rows, trained, messages, out_dir


def test_pretrained_stacks_are_shared_by_the_finetuning_grid(data, pretrain_sweep):
    rows, trained, messages, out_dir = pretrain_sweep
    # 6 networks, 2 stacks (one per pre-training lr): pre-training runs once per stack, not per network
    pretraining = [chunk for chunk, names in trained if names[0].startswith("pretrain")]
    assert pretraining == [[0, 1]]
    assert any("2 pre-trained stack(s) shared by 6 network(s)" in m for m in messages)
    assert not os.path.exists(out_dir / "pretrained" / "group000")  # removed once the group is done
    train = jax.jit(make_train(PRETRAIN_CONFIG))
    for row in rows:
        alone = train(jax.random.PRNGKey(row["seed"]),
                      Hparams(lr=row["lr"], pretrain_lr=row["pretrain_lr"], l1=row["l1"]), data)
        assert_row_matches(row, jax.device_get(alone))
        np.testing.assert_allclose(row["curves"]["pretrain_valid_loss"],
                                   np.asarray(alone.curves.pretrain_valid_loss), rtol=1e-5)
    # the same stack gives the same pre-training curves and criterion to every fine-tuning lr
    by_plr = {}
    for row in rows:
        by_plr.setdefault(row["pretrain_lr"], set()).add(row["pretrain_reconstruction"])
    assert all(len(values) == 1 for values in by_plr.values()) and len(by_plr) == 2


def test_labeled_fractions_below_one_share_their_pretrained_stacks(data, tmp_path, monkeypatch):
    # Figure 4's grid: pre-training reads every training input whatever the labeled fraction, and every
    # fraction below 1 shuffles them the same way, so their groups pre-train identical stacks
    grid = {"labeled_fraction": [0.5, 0.8, 1.0], "lr": [0.1, 0.03], "pretrain_lr": [0.01], "l1": [1e-3]}
    pretrained_by_group, messages = [], []
    _spy_on_stages(monkeypatch, lambda executor, networks, names: pretrained_by_group.append(
        executor.train.config.labeled_fraction) if names[0].startswith("pretrain") else None)
    rows = sweep.run(PRETRAIN_CONFIG, grid, str(tmp_path / "all"), data,
                     options=SweepOptions(checkpoint_every=0, progress=False, log=messages.append))
    assert pretrained_by_group == [0.5, 1.0]  # not again for 0.8
    assert any("1 of them taken from an earlier group" in m for m in messages)
    monkeypatch.undo()
    alone = sweep.run(PRETRAIN_CONFIG, dict(grid, labeled_fraction=[0.8]), str(tmp_path / "alone"), data,
                      options=SweepOptions(checkpoint_every=0, **QUIET))
    shared = [row for row in rows if row["labeled_fraction"] == 0.8]
    for mine, theirs in zip(shared, alone, strict=True):
        for name in ("valid_error", "test_error", "pretrain_reconstruction"):
            np.testing.assert_allclose(mine[name], theirs[name], rtol=1e-5)


def test_resume_reuses_a_finished_stack(data, tmp_path, monkeypatch, pretrain_sweep):
    out_dir = str(tmp_path / "out")
    _stop_at_finetuning(out_dir, data, chunk_size=2)
    stacks_dir = os.path.join(out_dir, "pretrained", "group000", "group000_stacks_00000-00001")
    # the finished stack (2 layers x 1 epoch) is kept for the resume
    assert [name for name in os.listdir(stacks_dir) if name.isdigit()] == ["2"]
    calls = []
    _spy_on_stages(monkeypatch, lambda executor, networks, names: calls.append(executor.network_epochs))
    resumed = sweep.run(PRETRAIN_CONFIG, PRETRAIN_GRID, out_dir, data,
                        options=SweepOptions(chunk_size=2, checkpoint_every=0, resume=True, **QUIET))
    assert calls[:2] == [0, 0]  # the stack chunk restored, not one epoch trained
    fresh = pretrain_sweep[0]
    assert [r["curves"] for r in resumed] == [r["curves"] for r in fresh]
    assert [r["test_error"] for r in resumed] == [r["test_error"] for r in fresh]


def _finetuned_lr(rows):
    """The pre-training lr the paper's rule keeps on a full sweep's rows (checked to be one, no tie)."""
    kept = {row["pretrain_lr"] for row in selection.lowest_reconstruction(rows)}
    assert len(kept) == 1 and len({row["pretrain_reconstruction"] for row in rows}) == 2
    return kept.pop()


def test_selecting_the_pretraining_lr_first_finetunes_only_its_networks(data, tmp_path, pretrain_sweep):
    full = pretrain_sweep[0]
    kept_lr = _finetuned_lr(full)
    messages = []
    out_dir = str(tmp_path / "selected")
    rows = sweep.run(PRETRAIN_CONFIG, PRETRAIN_GRID, out_dir, data,
                     options=SweepOptions(chunk_size=2, checkpoint_every=0, select_pretrain_lr=(), progress=False,
                                          log=messages.append))
    assert [r["network"] for r in rows] == [r["network"] for r in full if r["pretrain_lr"] == kept_lr]
    assert any("3 of 6 network(s) fine-tuned" in m for m in messages), messages
    by_network = {r["network"]: r for r in full}
    for row in rows:  # the same networks as in the full sweep, chunked otherwise
        twin = by_network[row["network"]]
        for name in ("valid_error", "test_error", "pretrain_reconstruction"):
            np.testing.assert_allclose(row[name], twin[name], rtol=1e-5, atol=1e-6)
    choose = dict(key=lambda r: r["activation"])
    assert selection.select(rows, **choose)["rectifier"]["network"] == \
        selection.select(full, **choose)["rectifier"]["network"]
    with open(os.path.join(out_dir, "results.json")) as handle:
        recorded = json.load(handle)
    assert recorded["complete"] and len(recorded["rows"]) == 3 and len(read_csv(
        os.path.join(out_dir, "results.csv"))) == 3
    skipped = recorded["not_finetuned"]
    assert sorted(r["network"] for r in skipped) == sorted(set(by_network) - {r["network"] for r in rows})
    for row in skipped:
        assert row["finetuned"] is False and row["pretrain_lr"] != kept_lr
        twin = by_network[row["network"]]
        np.testing.assert_allclose(row["pretrain_reconstruction"], twin["pretrain_reconstruction"], rtol=1e-5)


def test_a_stack_that_diverged_in_its_last_layer_is_never_selected():
    # measured at paper scale: the half-negated rectifier's stack of pre-training lr 0.01 diverged in
    # layer 3's first epoch; its layers 1-2 had finite curves, so a sum of "last finite values" gave it
    # the lowest reconstruction error (735.7 against 918.7) and every network fine-tuned from it was dead
    group = plan(PRETRAIN_CONFIG, sweep.product(lr=[0.1], pretrain_lr=[0.01, 0.05], seed=[0]))[0]
    finite, diverged = group.networks

    def stack(valid_loss, has_diverged):
        curves = types.SimpleNamespace(pretrain_valid_loss=np.asarray(valid_loss, np.float32),
                                       pretrain_loss=np.asarray(valid_loss, np.float32))
        return types.SimpleNamespace(curves=curves, diverged=np.bool_(has_diverged))

    stacks = {stack_signature(finite): stack([[9.0], [30.0]], False),
              stack_signature(diverged): stack([[7.0], [20.0]], True)}  # lower, but diverged
    kept, skipped = stacks_module.select_stacks(group, group.networks, stacks, [], ())
    assert kept == [finite] and [row["network"] for row in skipped] == [diverged.index]
    assert skipped[0]["diverged"] and selection.reconstruction_error(skipped[0]) == float("inf")


def test_pretrain_reconstruction_is_the_sum_of_each_layers_last_epoch_and_inf_once_diverged():
    nan = np.nan
    curves = np.array([[30.0, 20.0, 10.0], [9.0, 8.0, 7.5]])
    assert pretrain_reconstruction(curves) == pytest.approx(10.0 + 7.5)
    # diverged in layer 2's third epoch: its earlier epochs are finite, but the stack is not
    assert pretrain_reconstruction(np.array([[30.0, 20.0, 10.0], [9.0, 8.0, nan]])) == np.inf
    # diverged in layer 1: the layers after it never ran
    assert pretrain_reconstruction(np.array([[30.0, nan, nan], [nan, nan, nan]])) == np.inf
    assert pretrain_reconstruction(np.zeros((0, 0))) is None


def test_a_resumed_selection_finetunes_only_what_is_missing(data, tmp_path):
    out_dir = str(tmp_path / "selected")
    options = dict(chunk_size=1, checkpoint_every=0, select_pretrain_lr=(), **QUIET)
    first = sweep.run(PRETRAIN_CONFIG, PRETRAIN_GRID, out_dir, data, options=SweepOptions(**options))
    last = first[-1]["network"]
    os.remove(os.path.join(out_dir, "chunks", f"group000_networks_{last:05d}-{last:05d}.json"))
    trained = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        _spy_on_stages(monkeypatch, lambda executor, networks, names: trained.append(
            ([n.index for n in networks], names[0])))
        resumed = sweep.run(PRETRAIN_CONFIG, PRETRAIN_GRID, out_dir, data, options=SweepOptions(resume=True, **options))
    # one stack pre-trained again (it was local and is gone; its chunk is named by the group's first
    # network of that stack), then only the missing network fine-tuned
    stack = min(r["network"] for r in first if r["pretrain_lr"] == first[-1]["pretrain_lr"])
    assert [(chunk, name.startswith("pretrain")) for chunk, name in trained] == [([stack], True), ([last], False)]
    assert [r["network"] for r in resumed] == [r["network"] for r in first]
    assert [r["test_error"] for r in resumed] == [r["test_error"] for r in first]


@pytest.mark.parametrize("chunk_size", [1, 2])
def test_a_resume_with_fewer_networks_left_finds_the_finished_stack(data, tmp_path, monkeypatch, chunk_size):
    # measured at paper scale: stopped during the selected stack's last fine-tuning, the resumed sweep
    # pre-trained that stack again, because its folder was named by the networks then left to train;
    # with chunks of two, the chunk size shrank to the one network left and named the stacks otherwise
    out_dir = str(tmp_path / "out")
    _stop_at_finetuning(out_dir, data, nth=2, chunk_size=chunk_size, select_pretrain_lr=())
    calls = []
    _spy_on_stages(monkeypatch, lambda executor, networks, names: calls.append(
        (names[0].startswith("pretrain"), [n.index for n in networks], executor.network_epochs)))
    sweep.run(PRETRAIN_CONFIG, PRETRAIN_GRID, out_dir, data,
              options=SweepOptions(chunk_size=chunk_size, checkpoint_every=0, select_pretrain_lr=(), resume=True,
                                   **QUIET))
    first_finetuning = next(i for i, call in enumerate(calls) if not call[0])
    assert first_finetuning >= 1  # the stacks come first: restored, not one epoch trained
    assert [epochs for _, _, epochs in calls[:first_finetuning + 1]] == [0] * (first_finetuning + 1)


def test_a_resume_asked_for_smaller_chunks_pretrains_its_stacks_in_them(data, tmp_path, monkeypatch):
    # the stacks keep their first chunking on resume, unless the resume asks for smaller chunks (memory)
    out_dir = str(tmp_path / "out")
    _stop_at_finetuning(out_dir, data, chunk_size=2)
    stack_chunks = []
    _spy_on_stages(monkeypatch, lambda executor, networks, names: names[0].startswith("pretrain") and
                   stack_chunks.append(len(networks)))
    sweep.run(PRETRAIN_CONFIG, PRETRAIN_GRID, out_dir, data,
              options=SweepOptions(chunk_size=1, checkpoint_every=0, resume=True, **QUIET))
    assert stack_chunks == [1, 1]


@pytest.mark.parametrize("fields", [("pretrain_lr",), ("lr",), ("activation",), "bogus"])
def test_selection_fields_are_checked(data, tmp_path, fields):
    with pytest.raises(ValueError, match="select_pretrain_lr: .* cannot tell settings apart; expected names among"):
        sweep.run(PRETRAIN_CONFIG, PRETRAIN_GRID, str(tmp_path / "out"), data,
                  options=SweepOptions(select_pretrain_lr=fields, **QUIET))
    assert not os.path.exists(tmp_path / "out")


# ------------------------------------------------------------------ rows reused from another sweep (issue 15)
def test_identical_networks_are_taken_from_another_sweep(data, sweep_dirs, tmp_path, monkeypatch):
    donor_dir, donor_rows = sweep_dirs[4]
    # noise_level and pretrain_lr are read only by pre-training: lr 0.1 / l1 1e-3 / seed 1 is donor network
    grid = {"lr": [0.1, 0.05], "l1": [1e-3], "seed": [1], "noise_level": [0.1], "pretrain_lr": [0.5]}
    trained, messages = [], []
    _spy_on_stages(monkeypatch, lambda executor, networks, names: trained.append([n.index for n in networks]))
    out_dir = str(tmp_path / "taker")
    rows = sweep.run(CONFIG, grid, out_dir, data,
                     options=SweepOptions(chunk_size=1, checkpoint_every=0, reuse_rows_from=[donor_dir], progress=False,
                                          log=messages.append))
    assert trained == [[1]]  # only lr 0.05 is trained
    twin = next(r for r in donor_rows if (r["lr"], r["l1"], r["seed"]) == (0.1, 1e-3, 1))
    # recorded without the machine's path (the donor lies outside the repository here)
    assert rows[0]["reused_from"] == f"…/{os.path.basename(donor_dir)}: network {twin['network']}"
    assert rows[0]["curves"] == twin["curves"] and rows[0]["test_error"] == twin["test_error"]
    assert (rows[0]["network"], rows[0]["noise_level"], rows[0]["pretrain_lr"]) == (0, 0.1, 0.5)  # ours
    assert "reused_from" not in rows[1]
    assert any("1 of 2 network(s) taken from" in m for m in messages), messages
    # resumed, nothing is trained again; other data reuses nothing
    trained.clear()
    again = sweep.run(CONFIG, grid, out_dir, data,
                      options=SweepOptions(resume=True, reuse_rows_from=[donor_dir], **QUIET))
    assert trained == [] and [r["test_error"] for r in again] == [r["test_error"] for r in rows]
    sweep.run(CONFIG, grid, str(tmp_path / "other"), make_data(seed=1),
              options=SweepOptions(chunk_size=2, checkpoint_every=0, reuse_rows_from=[donor_dir], **QUIET))
    assert trained == [[0, 1]]


def test_a_donor_row_without_per_example_errors_is_trained_again(data, sweep_dirs, tmp_path, monkeypatch):
    donor_dir, _ = sweep_dirs[4]
    finished_rows = SweepStore.finished_rows

    def recorded_before_test_wrong(store, expected):
        rows = finished_rows(store, expected)
        return {k: {n: v for n, v in row.items() if n != "test_wrong"} if store.out_dir == donor_dir else row
                for k, row in rows.items()}

    monkeypatch.setattr(SweepStore, "finished_rows", recorded_before_test_wrong)
    trained = []
    _spy_on_stages(monkeypatch, lambda executor, networks, names: trained.append([n.index for n in networks]))
    grid = {"lr": [0.1, 0.05], "l1": [1e-3], "seed": [1]}
    rows = sweep.run(CONFIG, grid, str(tmp_path / "taker"), data,
                     options=SweepOptions(chunk_size=2, checkpoint_every=0, reuse_rows_from=[donor_dir], **QUIET))
    assert trained == [[0, 1]] and not any("reused_from" in r for r in rows)
    assert reuse.complete_record({"test_wrong": None}, "ratings") and not reuse.complete_record({}, "classification")


def test_a_reuse_folder_must_hold_a_sweep(data, tmp_path):
    with pytest.raises(FileNotFoundError, match="no plan.json; --reuse-rows-from takes the folder of a sweep"):
        sweep.run(CONFIG, GRID, str(tmp_path / "out"), data,
                  options=SweepOptions(reuse_rows_from=[str(tmp_path)], **QUIET))


def test_the_computation_key_leaves_out_only_what_a_network_never_reads():
    key = lambda config, **h: reuse.computation_key(config, Network(0, 0, Hparams(**h)))  # noqa: E731
    assert key(CONFIG, noise_level=0.1, pretrain_lr=0.5, alpha=2.0) == key(CONFIG.replace(corruption="gaussian"))
    assert key(CONFIG, lr=0.1) != key(CONFIG, lr=0.2) and key(CONFIG) != key(CONFIG.replace(epochs=4))
    assert key(PRETRAIN_CONFIG, noise_level=0.1) != key(PRETRAIN_CONFIG)  # read by pre-training
    assert key(PRETRAIN_CONFIG.replace(corruption="gaussian")) != key(PRETRAIN_CONFIG)
    softplus = CONFIG.replace(activation="scaled_softplus")
    assert key(softplus, alpha=2.0) != key(softplus)
    assert reuse.computation_key(CONFIG, Network(0, 1, Hparams())) != key(CONFIG)  # the seed


def test_a_tampered_chunk_file_is_refused(data, tmp_path):
    out_dir = str(tmp_path / "tampered")
    sweep.run(CONFIG, GRID, out_dir, data, options=SweepOptions(chunk_size=4, checkpoint_every=0, **QUIET))
    path = os.path.join(out_dir, "chunks", "group000_networks_00004-00007.json")
    with open(path) as handle:
        record = json.load(handle)
    record["rows"][1]["sparsity"] = 7.5
    with open(path, "w") as handle:
        json.dump(record, handle)
    with pytest.raises(ValueError, match=r"group000_networks_00004-00007.json: the rows do not match their checksum"):
        sweep.run(CONFIG, GRID, out_dir, data, options=SweepOptions(chunk_size=4, resume=True, **QUIET))


# ------------------------------------------------------------------ bad input (issue 13)
@pytest.mark.parametrize("point, message", [
    ({"noise_level": 1.5}, r"noise_level must be a probability in \[0, 1\] for mask noise, got 1.5"),
    ({"noise_level": -0.5}, "noise_level must be a probability"),
    ({"noise_level": float("nan")}, "noise_level must be a probability"),
    ({"alpha": -1.0}, "alpha must be > 0"),
    ({"alpha": float("nan")}, "alpha must be > 0"),
    ({"lr": float("inf")}, "lr must be a finite number > 0, got inf"),
    ({"pretrain_lr": float("nan")}, "pretrain_lr must be a finite number > 0"),
])
def test_invalid_hyperparameters_are_refused_before_anything_is_written(data, tmp_path, point, message):
    out_dir = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"grid point 0: {message}"):
        sweep.run(CONFIG, [point], str(out_dir), data, options=SweepOptions(**QUIET))
    assert not out_dir.exists()


def test_gaussian_noise_level_is_a_standard_deviation(data):
    groups = plan(CONFIG.replace(corruption="gaussian"), [{"noise_level": 1.5, "alpha": float("inf")}])
    assert groups[0].networks[0].hparams.noise_level == 1.5
    with pytest.raises(ValueError, match="noise_level must be a finite number >= 0"):
        plan(CONFIG.replace(corruption="gaussian"), [{"noise_level": -1.0}])


def test_empty_dict_and_empty_list_grids_mean_the_same(data, tmp_path):
    for grid in ({}, []):
        with pytest.raises(ValueError, match="no points"):
            sweep.run(CONFIG, grid, str(tmp_path / "out"), data, options=SweepOptions(**QUIET))


def test_a_foreign_folder_is_never_written(data, tmp_path):
    out_dir = tmp_path / "mine"
    out_dir.mkdir()
    (out_dir / "summary.md").write_text("my notes")
    (out_dir / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FileExistsError, match="holds no output of deep-sparse"):
        sweep.run(CONFIG, GRID, str(out_dir), data, options=SweepOptions(**QUIET))
    assert sorted(os.listdir(out_dir)) == ["results.csv", "summary.md"]
    assert (out_dir / "summary.md").read_text() == "my notes"


def test_a_failed_start_leaves_nothing_and_the_fixed_rerun_works(data, tmp_path):
    out_dir = tmp_path / "out"
    wrong = CONFIG.replace(num_classes=2)  # the data have 3 classes
    with pytest.raises(ValueError):
        sweep.run(wrong, GRID, str(out_dir), data, options=SweepOptions(**QUIET))
    assert not out_dir.exists()
    rows = sweep.run(CONFIG, {"lr": [0.1], "seed": [0]}, str(out_dir), data,
                     options=SweepOptions(checkpoint_every=0, **QUIET))
    assert len(rows) == 1


def test_bucket_sizes():
    assert [bucket_size(n, 1) for n in (1, 2, 3, 4, 5, 9)] == [1, 2, 4, 4, 8, 16]
    assert [bucket_size(n, 4) for n in (1, 4, 5, 9)] == [4, 4, 8, 16]


def test_epoch_speed_leaves_out_the_first_epoch():
    # the first epoch of a chunk pays one-time costs: plans use the later ones once there are any
    assert executor_module.epoch_speed([30.0]) == 30.0
    assert executor_module.epoch_speed([30.0, 12.0, 14.0]) == 13.0


def test_balanced_chunks():
    networks = list(range(200))
    assert [len(c) for c in balanced_chunks(networks, 192)] == [100, 100]
    assert [len(c) for c in balanced_chunks(networks, 256)] == [200]
    assert [len(c) for c in balanced_chunks(list(range(10)), 4, n_devices=2)] == [4, 4, 2]
    assert [len(c) for c in balanced_chunks(list(range(9)), 8, n_devices=4)] == [8, 1]
    chunks = balanced_chunks(networks, 64, n_devices=8)
    assert sum(chunks, []) == networks and all(len(c) % 8 == 0 for c in chunks[:-1])
    # every chunk computes in its first chunk's slots, padded to the devices
    assert chunk_slots(balanced_chunks(list(range(9)), 8, n_devices=4)) == 8
    assert chunk_slots([[0, 1, 2], [3, 4]], n_devices=2) == 4


def test_padding_slots_are_never_trained(data, tmp_path, monkeypatch):
    # 5 networks, at most 4 per chunk: balanced chunks of 3 and 2, the second padded by one slot that
    # starts stopped, so that lax.map skips every one of its epochs
    seen = []
    real = ChunkExecutor._stop_padding

    def spy(self, state, n_real):
        state = real(self, state, n_real)
        seen.append(np.asarray(state.stopped).tolist())
        return state

    monkeypatch.setattr(ChunkExecutor, "_stop_padding", spy)
    rows = sweep.run(CONFIG, [{"lr": 0.1, "seed": s} for s in range(5)], str(tmp_path / "out"), data,
                     options=SweepOptions(chunk_size=4, checkpoint_every=0, **QUIET))
    assert seen == [[False, False, False], [False, False, True]]
    assert [r["epochs_run"] for r in rows] == [CONFIG.epochs] * 5


def test_resume_of_a_finished_sweep_loads_no_data_and_compiles_nothing(data, sweep_dirs, monkeypatch):
    out_dir, rows = sweep_dirs[4]
    counted = {"load": 0, "compile": 0}

    def load(*args, **kwargs):
        counted["load"] += 1
        raise AssertionError("data loaded")

    def compile_(*args, **kwargs):
        counted["compile"] += 1
        raise AssertionError("compiled")

    monkeypatch.setattr(sweep, "load_data", load)
    monkeypatch.setattr(ChunkExecutor, "compiled", compile_)
    again = sweep.run(CONFIG, GRID, out_dir, None, options=SweepOptions(chunk_size=4, resume=True, **QUIET))
    assert counted == {"load": 0, "compile": 0}
    assert [r["test_error"] for r in again] == [r["test_error"] for r in rows]


def test_a_sweep_that_loads_its_data_passes_download_on(data, tmp_path, monkeypatch):
    seen = []

    def load(config, data_dir=None, download=True):
        seen.append((data_dir, download))
        return data

    monkeypatch.setattr(sweep, "load_data", load)
    sweep.run(CONFIG.replace(epochs=1), {"lr": [0.1]}, str(tmp_path / "out"), None,
              options=SweepOptions(data_dir="/nowhere", download=False, checkpoint_every=0, **QUIET))
    assert seen == [("/nowhere", False)]  # --offline: never a download
