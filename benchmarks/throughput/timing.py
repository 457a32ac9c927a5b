"""The clock every worker uses: a call timed on its own (``time.perf_counter`` around it, the
caller blocking until its results exist), repeated; the median of the repetitions is what counts."""
from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence


def time_calls(run: Callable[[], object], n: int) -> list[float]:
    """Seconds of each of ``n`` calls of ``run`` (which must block until its work is done)."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def warm_then_time(run: Callable[[], object], warmup: int, repeats: int) -> list[float]:
    """``warmup`` untimed calls of ``run``, then the seconds of each of ``repeats`` calls."""
    for _ in range(warmup):
        run()
    return time_calls(run, repeats)


def short_call_repeats(repeats: int) -> int:
    """How many times a short call (the validation pass alone, a ceiling) is timed: ``repeats``, at
    least 3."""
    return max(3, repeats)


def median_seconds(run: Callable[[], object], n: int) -> float:
    """Median seconds of ``n`` calls of ``run``."""
    return statistics.median(time_calls(run, n))


def gflops(flops: float, seconds: Sequence[float]) -> float:
    """GFLOP/s of ``flops`` done in the median of ``seconds``."""
    return flops / statistics.median(seconds) / 1e9
