"""The throughput benchmark runs end to end on tiny sizes and writes outputs that parse (issue 6), its
engine worker runs the engine's own chunking and loop, and the benchmarks use only public names of
deep_sparse (issue 12).

No timing assertions: only that every method ran and every file is there and well formed.
"""
import ast
import glob
import json
import os
import subprocess
import sys

import pytest

from benchmarks import precompile, vmap_cpu
from benchmarks.throughput import cli, problem, report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_flops_per_step_of_the_paper_network():
    sizes = problem.layer_sizes((1000, 1000, 1000))
    products = 784 * 1000 + 1000 * 1000 + 1000 * 1000 + 1000 * 10
    params = products + 3000 + 10
    assert problem.flops_per_step(sizes) == 2 * 10 * products * 2 + 2 * 10 * (products - 784 * 1000) + 2 * params


def test_step_shape_ceiling_against_hand_arithmetic():
    sizes = (4, 3, 2)  # products: fwd 10x4 @ 4x3, dW 4x10 @ 10x3, fwd 10x3 @ 3x2, dW 3x10 @ 10x2, dx 10x2 @ 2x3
    shapes = [{"shape": "fwd 10x4 @ 4x3", "jax_gflops": 1.0}, {"shape": "dW 4x10 @ 10x3", "jax_gflops": 2.0},
              {"shape": "fwd 10x3 @ 3x2", "jax_gflops": 4.0}, {"shape": "dW 3x10 @ 10x2", "jax_gflops": 4.0},
              {"shape": "dx 10x2 @ 2x3", "jax_gflops": 1.0}]
    seconds = (240 / 1.0 + 240 / 2.0 + 120 / 4.0 + 120 / 4.0 + 120 / 1.0) / 1e9
    assert report.step_shape_ceiling(shapes, sizes) == pytest.approx(problem.flops_per_step(sizes) / seconds / 1e9)
    assert report.step_shape_ceiling(shapes[:1] + [{"shape": "odd", "jax_gflops": 1.0}], sizes) is None
    # the ceilings worker measures exactly these products, under labels the report parses
    measured = [{"shape": label, "jax_gflops": 1.0} for label, _, _ in problem.step_products(sizes)]
    assert [m["shape"] for m in measured] == [s["shape"] for s in shapes]
    assert report.step_shape_ceiling(measured, sizes) == pytest.approx(problem.flops_per_step(sizes) / 840)  # 840 FLOPs at 1 GFLOP/s


def test_markdown_keeps_other_sections(tmp_path):
    path = str(tmp_path / "BENCHMARKS.md")
    report.update_markdown(path, "machine A", "## A\nfirst\n")
    report.update_markdown(path, "machine B", "## B\nsecond\n")
    report.update_markdown(path, "machine A", "## A\nthird\n")
    text = open(path).read()
    assert "third" in text and "second" in text and "first" not in text
    assert text.index("## A") < text.index("## B")


def test_rounds_alternate_the_order_of_the_methods_and_pool_their_epochs():
    assert cli.round_orders(["engine", "loop"], 3) == [["engine", "loop"], ["loop", "engine"], ["engine", "loop"]]
    first = {"times": [1.0, 2.0], "compile_s": 1.0, "eval_compile_s": 0.1, "eval_s": 0.5, "maxrss_bytes": 10,
             "xla_memory_bytes": None, "stopped": False, "worker_wall_s": 3.0, "process_wall_s": 4.0, "chunk_size": 4}
    second = dict(first, times=[3.0, 4.0], compile_s=3.0, eval_s=0.7, maxrss_bytes=30, stopped=True)
    third = dict(first, times=[5.0, 6.0], compile_s=2.0, eval_s=0.6, maxrss_bytes=20)
    pooled = cli.pool_rounds([first, second, third])
    assert pooled["times"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] and pooled["rounds"] == 3
    assert pooled["round_times"] == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert (pooled["compile_s"], pooled["eval_s"], pooled["maxrss_bytes"]) == (2.0, 0.6, 30)
    assert pooled["stopped"] and pooled["process_wall_s"] == 12.0 and pooled["chunk_size"] == 4
    assert pooled["xla_memory_bytes"] is None
    assert cli.pool_rounds([first, {"error": "timed out"}]) == {"error": "timed out"}
    torch_like = {k: v for k, v in first.items() if k != "eval_compile_s"}
    assert cli.pool_rounds([torch_like, torch_like])["eval_compile_s"] is None
    row = report.summarize("loop", 2, pooled, {"hidden": [3], "steps": 5, "valid": 2}, None)
    assert row["epoch_s_median"] == 3.5 and row["spread_pct"] == pytest.approx(100 * 5 / 3.5)


def test_engine_worker_runs_the_engines_chunks_one_after_the_other():
    """5 networks on one CPU device: automatic chunk size 4, balanced into chunks of 3 and 2 (the last
    padded to 3), each through warm-up + repeats epochs in the engine's loop; the time of an epoch is
    the sum over the chunks."""
    from benchmarks.throughput import jax_workers

    spec = dict(cli.MODES["tiny"], k=5, warmup=1)
    result = jax_workers.time_engine(spec)
    assert (result["n_chunks"], result["chunk_size"], result["batching"]) == (2, 3, "map")
    assert len(result["times"]) == spec["repeats"] and all(t > 0 for t in result["times"])
    assert result["compile_s"] > 0 and result["eval_s"] > 0 and not result["stopped"]
    json.dumps(result)  # what a worker process prints


def _private_deep_sparse_names(path):
    """``deep_sparse`` names starting with ``_`` that the file imports or reads from a deep_sparse module."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    modules, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("deep_sparse"):
            found += [a.name for a in node.names if a.name.startswith("_")]
            modules |= {a.asname or a.name for a in node.names if node.module == "deep_sparse"}
        elif isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name.startswith("deep_sparse")}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in modules):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_benchmarks_use_only_public_names_of_deep_sparse():
    paths = glob.glob(os.path.join(REPO, "benchmarks", "**", "*.py"), recursive=True)
    assert any(p.endswith("jax_workers.py") for p in paths)
    assert {os.path.relpath(p, REPO): _private_deep_sparse_names(p) for p in paths
            if _private_deep_sparse_names(p)} == {}


@pytest.mark.integration
def test_tiny_run_end_to_end(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.sweep_throughput", "--tiny", "--k", "2", "--out", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,  # a hang guard: slow under load
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = tmp_path / "benchmarks" / "results"
    (json_path,) = results.glob("sweep_throughput_*_tiny.json")
    payload = json.loads(json_path.read_text())
    methods = {row["method"] for row in payload["rows"]}
    (engine,) = [r for r in payload["raw"] if r["method"] == "engine"]
    assert engine["n_chunks"] == 1 and engine["chunk_size"] == 2
    assert set(problem.JAX_METHODS) <= methods
    for row in payload["rows"]:
        assert "error" not in row, row
        assert row["k"] == 2
        assert row["network_steps_per_s"] > 0 and row["gflops"] > 0
        raw = payload["raw"][payload["rows"].index(row)]
        assert len(raw["times"]) == payload["spec"]["repeats"] * payload["spec"]["rounds"] == 2 * raw["rounds"]
    assert payload["ceilings"]["peak_gflops"] > 0
    assert payload["provenance"]["versions"]["jax"]
    png = (results / "throughput_vs_k.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    markdown = (tmp_path / "BENCHMARKS.md").read_text()
    assert payload["machine_description"] in markdown
    assert "sweep engine" in markdown and "plain JAX loop" in markdown and "- step-shape ceiling: " in markdown
    # --render rewrites the same section from the raw numbers alone
    cli.main(["--render", str(json_path), "--out", str(tmp_path / "again")])
    assert (tmp_path / "again" / "BENCHMARKS.md").read_text() == markdown


def test_vmap_cpu_diagnostic_times_every_formulation(tmp_path):
    vmap_cpu.main(["--k", "2", "--steps", "2", "--repeats", "1", "--out", str(tmp_path)])
    measured = json.loads((tmp_path / "benchmarks" / "results" / "vmap_cpu.json").read_text())["default"]
    for name in ("loop", "vmap", "vmap1_loop", "lax_map", "unrolled", "wide_first"):
        assert measured[name]["network_steps_per_s"] > 0 and measured[name]["epoch_s"] > 0, name
    assert measured["vmap_hlo_ops"]["dot"] > 0
    assert set(measured["primitives_gflops"]["1000x1000"]) == {"batched_dot", "separate_dots", "wide_dot", "batched_dW"}


def test_precompile_benchmark_compiles_the_same_bucket_programs_both_ways(tmp_path):
    precompile.main(["--tiny", "--k", "4", "--rounds", "1", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "benchmarks" / "results" / "precompile_tiny.json").read_text())
    (row,) = result["k"].values()
    assert row["bucket_sizes"] == [4, 2, 1] and row["programs"] == 4  # three buckets and finalize
    assert all(len(row["seconds"][mode]) == 1 and row["seconds"][mode][0] > 0 for mode in precompile.MODES)
    assert row["sequential_over_parallel"] == row["median_seconds"]["sequential"] / row["median_seconds"]["parallel"]
    assert "sequential / parallel" in (tmp_path / "benchmarks" / "results" / "precompile_tiny.md").read_text()
