"""The executor's plans: how long a chunk's remaining epochs may take (the --budget-minutes rule), and
the buckets a compacted chunk computes (finer than powers of two, each network still equal to itself
trained alone)."""
import json

import jax
import numpy as np
import pytest
from hypothesis import given, strategies as st

from deep_sparse import buckets
from deep_sparse import executor as executor_module
from deep_sparse import sweep
from deep_sparse.config import Hparams
from deep_sparse.executor import ChunkPolicy, _Clock, epoch_speed, remaining_seconds
from deep_sparse.planner import bucket_size, slot_epochs
from deep_sparse.train import make_train
from test_sweep import CONFIG as TEST_CONFIG, QUIET, assert_row_matches, make_data


def clock_after(epoch_seconds, total, deadline, monkeypatch, now=0.0):
    monkeypatch.setattr(executor_module.time, "time", lambda: now)
    clock = _Clock(total, ChunkPolicy(deadline=deadline))
    for seconds in epoch_seconds:
        clock.epoch_took(seconds)
    return clock


def test_one_slow_epoch_does_not_stop_a_chunk_that_fits(monkeypatch):
    # 10 s epochs, one of them 60 s (another process on the machine): 4 epochs done, 10 left, 170 s
    # left. The plan needs 60 + 9 * 10 = 150 s: the chunk goes on, where the mean of the epochs after
    # the first (26.7 s, 267 s for the rest) would have stopped it.
    times = [20.0, 10.0, 60.0, 10.0]
    clock = clock_after(times, total=14, deadline=170.0, monkeypatch=monkeypatch)
    assert epoch_speed(times) == 10.0
    assert clock.worst_case(4) == 150.0
    assert not clock.too_late(4)
    # the same chunk with 140 s left stops: the next epoch may be as slow as the slow one
    assert clock_after(times, total=14, deadline=140.0, monkeypatch=monkeypatch).too_late(4)


def test_a_machine_that_became_slower_is_planned_at_its_new_speed(monkeypatch):
    # only the recent epochs count: 20 fast epochs, then 5 at 30 s out of the last 9 -> median 30 s
    times = [20.0] + [10.0] * 20 + [30.0] * 5
    assert epoch_speed(times) == 30.0
    clock = clock_after(times, total=36, deadline=300.0, monkeypatch=monkeypatch)
    assert clock.worst_case(26) == 300.0 and not clock.too_late(26)
    assert clock_after(times, total=36, deadline=299.0, monkeypatch=monkeypatch).too_late(26)


def test_the_first_epoch_alone_is_never_planned_on_and_a_passed_deadline_stops(monkeypatch):
    assert not clock_after([500.0], total=10, deadline=100.0, monkeypatch=monkeypatch).too_late(1)
    assert clock_after([5.0], total=10, deadline=100.0, monkeypatch=monkeypatch, now=101.0).too_late(1)
    assert not clock_after([5.0, 5.0], total=2, deadline=1.0, monkeypatch=monkeypatch).too_late(2)  # finished


@given(st.lists(st.floats(0.01, 1000.0), min_size=2, max_size=40), st.integers(1, 50))
def test_the_plan_covers_the_remaining_epochs_at_the_recent_median_and_the_next_at_the_slowest(times, left):
    recent = times[1:][-executor_module.RECENT_EPOCHS:]
    planned = remaining_seconds(times, left)
    assert np.isclose(planned, max(recent) + (left - 1) * np.median(recent))
    assert planned >= max(recent) and planned >= left * min(recent) * (1 - 1e-12)  # up to rounding


# ------------------------------------------------------------ finer buckets for a compacted chunk
@given(st.integers(1, 5000), st.sampled_from([1, 2, 4, 8]), st.sampled_from([1, 2, 4, 8]))
def test_a_bucket_holds_the_running_networks_with_less_than_a_step_idle(n_running, n_devices, per_octave):
    size = bucket_size(n_running, n_devices, per_octave)
    power = bucket_size(n_running, n_devices)  # the powers of two
    per_device = -(-n_running // n_devices)
    assert size % n_devices == 0 and n_running <= size <= power
    step = max(1, power // n_devices // 2 // per_octave)
    assert size // n_devices - per_device < step  # idle slots per device: less than one step
    assert bucket_size(n_running, n_devices, 2 * per_octave) <= size  # finer never computes more


def test_bucket_sizes_per_octave():
    assert [bucket_size(n, 1, 4) for n in (5, 9, 17, 33, 41, 57, 65)] == [5, 10, 20, 40, 48, 64, 80]
    assert [bucket_size(n, 4, 2) for n in (5, 13, 21, 25)] == [8, 16, 24, 32]
    with pytest.raises(ValueError, match="power of two"):
        bucket_size(4, 1, 3)


def test_slot_epochs_counts_the_buckets_of_the_networks_still_running():
    # 5 networks in 8 slots stopping after 1, 2, 2, 4, 6 epochs: running 5, 4, 2, 2, 1, 1
    assert slot_epochs([1, 2, 2, 4, 6], 8) == 8 + 4 + 2 + 2 + 1 + 1
    assert slot_epochs([1, 2, 2, 4, 6], 8, per_octave=4) == 5 + 4 + 2 + 2 + 1 + 1
    assert slot_epochs([6, 6], 2) == 12 == sum([6, 6])


FINE_CONFIG = TEST_CONFIG.replace(epochs=6, patience=1)
FINE_GRID = [{"lr": lr, "seed": seed, "l1": 1e-3} for lr in (0.5, 0.1, 0.02) for seed in (0, 1)]


def test_finer_buckets_compute_fewer_slots_and_every_network_equals_its_single_run(tmp_path, monkeypatch):
    monkeypatch.setattr(buckets, "BUCKETS_PER_OCTAVE", 4)
    data = make_data(FINE_CONFIG)
    rows = sweep.run(FINE_CONFIG, FINE_GRID, str(tmp_path / "out"), data, options=sweep.SweepOptions(
        chunk_size=6, batching="vmap", checkpoint_every=0, **QUIET))
    train = jax.jit(make_train(FINE_CONFIG))
    for row in rows:
        assert_row_matches(row, train(jax.random.PRNGKey(row["seed"]), Hparams(lr=row["lr"], l1=row["l1"]), data))
    with open(tmp_path / "out" / "results.json") as handle:
        computed = json.load(handle)["timings"]["groups"][0]["network_epochs"]
    epochs_run = [row["epochs_run"] for row in rows]
    assert computed == slot_epochs(epochs_run, 6, per_octave=4) < slot_epochs(epochs_run, 6)
