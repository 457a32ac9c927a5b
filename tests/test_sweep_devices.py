"""The sweep engine on several devices and processes (issues 12.1, 12.2, 12.7): every batching path
under 8 forced CPU devices, sharding over 4 host devices, and two processes over loopback, each
network equal to the same network trained alone. Apart from test_sweep.py because its subprocesses
are the suite's longest single piece of work: pytest-xdist runs each test file in one worker."""
import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import pytest

from deep_sparse import planner, sweep
from deep_sparse.config import Hparams
from deep_sparse.store import read_results
from deep_sparse.train import make_train
from test_sweep import CONFIG, TESTS, _env, assert_row_matches, make_data

SHARD_GRID = {"lr": [0.1, 0.03], "l1": [1e-3], "seed": [0, 1]}


@pytest.fixture(scope="module")
def shard_single_runs():
    """``(lr, l1, seed) -> Result`` of each SHARD_GRID network trained alone."""
    data, train = make_data(), jax.jit(make_train(CONFIG))
    return {(p["lr"], p["l1"], p["seed"]): jax.device_get(
                train(jax.random.PRNGKey(p["seed"]), Hparams(lr=p["lr"], l1=p["l1"]), data))
            for p in sweep.product(**SHARD_GRID)}


# ------------------------------------------------------------ every batching path (issue 12.1, 12.2)
PATIENT_CONFIG = CONFIG.replace(epochs=6, patience=1)
PATIENT_GRID = [{"lr": lr, "seed": seed, "l1": 1e-3} for lr in (0.5, 0.02) for seed in (0, 1)]
FINE_PER_OCTAVE = 4

@pytest.fixture(scope="module")
def patient_single_runs():
    data = make_data(PATIENT_CONFIG)
    train = jax.jit(make_train(PATIENT_CONFIG))
    return {(p["lr"], p["seed"]): jax.device_get(train(jax.random.PRNGKey(p["seed"]),
                                                       Hparams(lr=p["lr"], l1=p["l1"]), data))
            for p in PATIENT_GRID}


# One subprocess with 8 forced CPU devices runs every multi-device check (a process per check cost
# most of this file's time): each batching path on 1 and 4 devices, the 4-device sharded sweep
# with checkpoints, and the compiled epochs' HLO and memory plans on 4 and 8 devices.
DEVICES_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax
    sys.path.insert(0, {tests!r})
    from test_sweep import CONFIG, make_data
    from test_sweep_devices import FINE_PER_OCTAVE, PATIENT_CONFIG, PATIENT_GRID, SHARD_GRID
    from deep_sparse import buckets
    from deep_sparse import sweep
    from deep_sparse.config import Hparams
    from deep_sparse.devices import make_mesh
    from deep_sparse.executor import ChunkExecutor
    from deep_sparse.planner import Network
    from deep_sparse.train import make_train
    assert len(jax.devices()) == 8, jax.devices()
    out, quiet = sys.argv[1], dict(progress=False, log=lambda m: None)
    payload = {{"paths": {{}}, "hlo": {{}}}}
    patient = make_data(PATIENT_CONFIG)
    for n_devices in (1, 4):
        # vmap-fine: buckets at 4 sizes per doubling; vmap-precompiled: every bucket's program compiled
        # when fine-tuning starts, side by side
        for batching in ("map", "vmap", "vmap-fine", "vmap-precompiled"):
            folder = f"{{out}}/{{batching}}-{{n_devices}}"
            buckets.BUCKETS_PER_OCTAVE = FINE_PER_OCTAVE if batching == "vmap-fine" else 1
            rows = sweep.run(PATIENT_CONFIG, PATIENT_GRID, folder, patient, options=sweep.SweepOptions(
                chunk_size=4, batching=batching.split("-")[0], devices=jax.devices()[:n_devices],
                checkpoint_every=0, precompile=batching == "vmap-precompiled", **quiet))
            with open(folder + "/results.json") as handle:
                record = json.load(handle)
            buckets.BUCKETS_PER_OCTAVE = 1
            payload["paths"][f"{{batching}} {{n_devices}}"] = dict(
                rows=rows, batching=record["batching"],
                network_epochs=record["timings"]["groups"][0]["network_epochs"],
                precompile=record["timings"]["groups"][0]["precompile"])
    messages = []
    rows = sweep.run(CONFIG, SHARD_GRID, out + "/shard", make_data(), options=sweep.SweepOptions(
        chunk_size=4, checkpoint_every=1, devices=jax.devices()[:4], progress=False, log=messages.append))
    payload["shard"] = dict(rows=rows, messages=messages)
    for n_devices in (4, 8):
        for batching in ("map", "vmap"):
            executor = ChunkExecutor(make_train(CONFIG), make_data(), make_mesh(jax.devices()[:n_devices]), batching)
            networks = [Network(i, i, Hparams()) for i in range(2 * n_devices)]
            state = executor.initial_state(networks, len(networks))
            _, hparams = executor.shard(networks, len(networks))
            stage = executor.train.finetune
            text = executor.compiled(stage.name, stage.epoch, state, hparams, executor.data).as_text()
            payload["hlo"][f"{{n_devices}} {{batching}}"] = [
                op for op in ("all-gather", "all-reduce", "collective-permute", "all-to-all", "reduce-scatter")
                if op in text]
    # XLA's memory plan of a sharded program is per device: 8 networks on 4 devices = 2 on one
    per_device = {{}}
    for n_devices, n_networks in ((4, 8), (1, 2)):
        executor = ChunkExecutor(make_train(CONFIG), make_data(), make_mesh(jax.devices()[:n_devices]), "map")
        per_device[n_devices] = executor.memory_bytes([Network(i, i, Hparams()) for i in range(n_networks)],
                                                      n_networks)
    payload["memory"] = per_device[4] / per_device[1]
    print("PAYLOAD " + json.dumps(payload))
""").format(tests=TESTS)


@pytest.fixture(scope="module")
def forced_devices(tmp_path_factory):
    """What DEVICES_SCRIPT found, run once under 8 forced CPU devices (a failure is kept, not rerun by
    every test that uses it)."""
    out_dir = tmp_path_factory.mktemp("devices")
    env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    try:
        result = subprocess.run([sys.executable, "-c", DEVICES_SCRIPT, str(out_dir)], env=env, capture_output=True,
                                text=True, timeout=900)
    except subprocess.TimeoutExpired as error:
        return {"error": f"timed out: {error.stdout}{error.stderr}"}
    if result.returncode:
        return {"error": result.stdout + result.stderr}
    return json.loads(result.stdout.split("PAYLOAD ", 1)[1])


def _found(forced_devices, part):
    if "error" in forced_devices:
        pytest.fail("DEVICES_SCRIPT failed: " + forced_devices["error"][-3000:])
    return forced_devices[part]


@pytest.mark.parametrize("path", ["map 1", "vmap 1", "vmap-fine 1", "vmap-precompiled 1",
                                  "map 4", "vmap 4", "vmap-fine 4", "vmap-precompiled 4"])
def test_every_batching_path_equals_single_runs(forced_devices, patient_single_runs, path):
    found = _found(forced_devices, "paths")[path]
    rows = found["rows"]
    assert len({row["epochs_run"] for row in rows}) > 1  # early stopping ended networks at different epochs
    for row in rows:
        assert_row_matches(row, patient_single_runs[(row["lr"], row["seed"])])
    assert found["batching"] == path.split()[0].split("-")[0]


@pytest.mark.parametrize("n_devices", [1, 4])
@pytest.mark.parametrize("path", ["vmap", "vmap-fine", "vmap-precompiled"])
def test_vmap_compacts_the_running_networks(forced_devices, n_devices, path):
    # Under vmap a stopped network would keep computing until its whole chunk stops; compacted, an
    # epoch computes only a bucket (per device: a power of two, or finer) of the networks still running.
    found = _found(forced_devices, "paths")[f"{path} {n_devices}"]
    epochs_run = [row["epochs_run"] for row in found["rows"]]
    size = len(epochs_run)
    running = [sum(e >= epoch for e in epochs_run) for epoch in range(1, max(epochs_run) + 1)]
    buckets = [min(size, planner.bucket_size(r, n_devices)) for r in running]
    per_octave = FINE_PER_OCTAVE if path == "vmap-fine" else 1
    assert found["network_epochs"] == planner.slot_epochs(epochs_run, size, n_devices, per_octave)
    if path in ("vmap", "vmap-precompiled"):
        assert found["network_epochs"] == sum(buckets)
    if n_devices == 1:
        assert found["network_epochs"] < size * max(epochs_run)  # this grid's networks stop early enough


@pytest.mark.parametrize("n_devices", [1, 4])
def test_precompiled_buckets_give_the_lazy_rows_bitwise(forced_devices, n_devices):
    paths = _found(forced_devices, "paths")
    lazy, precompiled = paths[f"vmap {n_devices}"], paths[f"vmap-precompiled {n_devices}"]
    assert precompiled["precompile"] and not lazy["precompile"]
    assert json.dumps(precompiled["rows"]) == json.dumps(lazy["rows"])


def test_sharded_over_four_devices_matches_one_device(forced_devices, shard_single_runs):
    payload = _found(forced_devices, "shard")
    assert any("4 of 4 networks to train in 1 chunk(s) of 4 on 4 cpu device(s)" in m for m in payload["messages"])
    rows = payload["rows"]
    assert len(rows) == 4
    for row in rows:
        assert_row_matches(row, shard_single_runs[(row["lr"], row["l1"], row["seed"])])


def test_a_sharded_epoch_needs_no_collective(forced_devices):
    assert 0.8 < _found(forced_devices, "memory") < 1.25
    found = _found(forced_devices, "hlo")
    assert sorted(found) == ["4 map", "4 vmap", "8 map", "8 vmap"]
    assert found == {key: [] for key in found}, found


# ------------------------------------------------------------------ several processes (issue 12.7)
MULTIPROCESS_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(sys.argv[2], 2, int(sys.argv[3]))
    sys.path.insert(0, {tests!r})
    from test_sweep import make_data
    from test_sweep_devices import PATIENT_CONFIG, PATIENT_GRID
    from deep_sparse import sweep
    assert jax.process_count() == 2 and len(jax.devices()) == 2
    rows = sweep.run(PATIENT_CONFIG, PATIENT_GRID, sys.argv[1], make_data(PATIENT_CONFIG),
                     options=sweep.SweepOptions(chunk_size=2, progress=False, log=lambda m: None))
    print("ROWS " + json.dumps(rows))
""").format(tests=TESTS)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_on_loopback_equal_single_runs(tmp_path, patient_single_runs):
    out_dir = str(tmp_path / "out")
    address = f"127.0.0.1:{_free_port()}"
    env = _env(JAX_PLATFORMS="cpu")
    processes = [subprocess.Popen([sys.executable, "-c", MULTIPROCESS_SCRIPT, out_dir, address, str(i)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stdout + stderr
            outputs.append(json.loads(stdout.split("ROWS ", 1)[1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert outputs[0] == outputs[1]  # every process returns every row
    for row in outputs[0]:
        assert_row_matches(row, patient_single_runs[(row["lr"], row["seed"])])
    # one writer: the primary's files hold every network
    assert [r["network"] for r in read_results(out_dir)] == [0, 1, 2, 3]
    assert sorted(os.listdir(os.path.join(out_dir, "chunks"))) == [
        "group000_networks_00000-00001.json", "group000_networks_00002-00003.json"]
