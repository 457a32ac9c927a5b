"""One fresh Python process per method and K (``python -m benchmarks.throughput.workers``), so that
each method's compilation caches, threads and peak resident memory are its own."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Callable, Optional

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def worker_command(method: str, spec: dict) -> list[str]:
    return [sys.executable, "-m", "benchmarks.throughput.workers", method, json.dumps(spec)]


def spawn(method: str, spec: dict, timeout: Optional[float], log: Callable[[str], None]) -> dict:
    """Run one worker in a fresh process, the repository first on its path; its result (the last
    JSON line of its stdout) with ``process_wall_s``, or ``{"error": ...}`` when it failed or ran
    past ``timeout`` seconds."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    start = time.perf_counter()
    try:
        done = subprocess.run(worker_command(method, spec), capture_output=True, text=True, cwd=REPO, env=env,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"  {method} k={spec.get('k')}: timed out after {timeout} s")
        return {"error": f"timed out after {timeout} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        log(f"  {method} k={spec.get('k')}: failed ({' / '.join(tail)})")
        return {"error": " / ".join(tail) or f"exit status {done.returncode}"}
    result = json.loads(lines[-1])
    result["process_wall_s"] = time.perf_counter() - start
    return result
