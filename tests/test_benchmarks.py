"""The throughput benchmark runs end to end on tiny sizes and writes outputs that parse (issue 6).

No timing assertions: only that every method ran and every file is there and well formed.
"""
import json
import os
import subprocess
import sys

import pytest

from benchmarks import sweep_throughput as bench

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_flops_per_step_of_the_paper_network():
    sizes = bench.layer_sizes((1000, 1000, 1000))
    products = 784 * 1000 + 1000 * 1000 + 1000 * 1000 + 1000 * 10
    params = products + 3000 + 10
    assert bench.flops_per_step(sizes) == 2 * 10 * products * 2 + 2 * 10 * (products - 784 * 1000) + 2 * params


def test_step_shape_ceiling_against_hand_arithmetic():
    sizes = (4, 3, 2)  # products: fwd 10x4 @ 4x3, dW 4x10 @ 10x3, fwd 10x3 @ 3x2, dW 3x10 @ 10x2, dx 10x2 @ 2x3
    shapes = [{"shape": "fwd 10x4 @ 4x3", "jax_gflops": 1.0}, {"shape": "dW 4x10 @ 10x3", "jax_gflops": 2.0},
              {"shape": "fwd 10x3 @ 3x2", "jax_gflops": 4.0}, {"shape": "dW 3x10 @ 10x2", "jax_gflops": 4.0},
              {"shape": "dx 10x2 @ 2x3", "jax_gflops": 1.0}]
    seconds = (240 / 1.0 + 240 / 2.0 + 120 / 4.0 + 120 / 4.0 + 120 / 1.0) / 1e9
    assert bench.step_shape_ceiling(shapes, sizes) == pytest.approx(bench.flops_per_step(sizes) / seconds / 1e9)
    assert bench.step_shape_ceiling(shapes[:1] + [{"shape": "odd", "jax_gflops": 1.0}], sizes) is None


def test_markdown_keeps_other_sections(tmp_path):
    path = str(tmp_path / "BENCHMARKS.md")
    bench.update_markdown(path, "machine A", "## A\nfirst\n")
    bench.update_markdown(path, "machine B", "## B\nsecond\n")
    bench.update_markdown(path, "machine A", "## A\nthird\n")
    text = open(path).read()
    assert "third" in text and "second" in text and "first" not in text
    assert text.index("## A") < text.index("## B")


@pytest.mark.integration
def test_tiny_run_end_to_end(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.sweep_throughput", "--tiny", "--k", "2", "--out", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = tmp_path / "benchmarks" / "results"
    (json_path,) = results.glob("sweep_throughput_*_tiny.json")
    payload = json.loads(json_path.read_text())
    methods = {row["method"] for row in payload["rows"]}
    assert set(bench.JAX_METHODS) <= methods
    for row in payload["rows"]:
        assert "error" not in row, row
        assert row["k"] == 2
        assert row["network_steps_per_s"] > 0 and row["gflops"] > 0
        assert len(payload["raw"][payload["rows"].index(row)]["times"]) == payload["spec"]["repeats"]
    assert payload["ceilings"]["peak_gflops"] > 0
    assert payload["provenance"]["versions"]["jax"]
    png = (results / "throughput_vs_k.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    markdown = (tmp_path / "BENCHMARKS.md").read_text()
    assert payload["machine_description"] in markdown
    assert "sweep engine" in markdown and "plain JAX loop" in markdown and "- step-shape ceiling: " in markdown
    # --render rewrites the same section from the raw numbers alone
    bench.main(["--render", str(json_path), "--out", str(tmp_path / "again")])
    assert (tmp_path / "again" / "BENCHMARKS.md").read_text() == markdown
