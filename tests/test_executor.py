"""The executor's plans: how long a chunk's remaining epochs may take (the --budget-minutes rule)."""
import numpy as np
from hypothesis import given, strategies as st

from deep_sparse import executor as executor_module
from deep_sparse.executor import ChunkPolicy, _Clock, epoch_speed, remaining_seconds


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
