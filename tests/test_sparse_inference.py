"""Every sparse forward pass equals the dense one (a NumPy loop written here) on a tiny rectifier
network at several fractions of zeros; the benchmark's network has the fraction of zeros it is built
for, and its script runs end to end. No timing is asserted."""
import json

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import sparse_inference as bench
from deep_sparse import sparse_inference as si

SIZES = (12, 24, 24, 24, 3)


def reference_logits(params, x):
    h = np.asarray(x, np.float64)
    for index, layer in enumerate(params):
        h = h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64)
        if index < len(params) - 1:
            h = np.maximum(h, 0.0)
    return h


def batch(n, seed=1):
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, SIZES[0])).astype(np.float32)


@pytest.mark.parametrize("sparsity, n", [(0.5, 7), (0.9, 1), (0.9, 7), (0.99, 7)])
def test_every_path_equals_the_dense_forward(sparsity, n):
    params = bench.network_at_sparsity(SIZES, sparsity)
    x = batch(n)
    expected = reference_logits(params, x)
    capacities, nse = si.capacities_for(params, x, multiple=4)
    host = si.numpy_params(params)
    outputs = {
        "dense": si.dense_forward(params, jnp.asarray(x)),
        "gather": si.gather_forward(params, jnp.asarray(x), capacities),
        "bcoo": si.bcoo_forward(params, jnp.asarray(x), nse),
        "dense_numpy": si.dense_forward_numpy(host, x),
        "gather_numpy": si.gather_forward_numpy(host, x),
        "csr_scipy": si.csr_forward_scipy(host, x),
    }
    for name, logits in outputs.items():
        np.testing.assert_allclose(np.asarray(logits), expected, rtol=1e-5, atol=1e-5, err_msg=name)


def test_a_capacity_too_small_falls_back_to_the_dense_product():
    params = bench.network_at_sparsity(SIZES, 0.5)
    x = batch(7)
    capacities, nse = si.capacities_for(params, x, multiple=1)
    assert min(capacities) > 2 and min(nse) > 2  # so that a capacity of 1 truncates
    expected = reference_logits(params, x)
    np.testing.assert_allclose(np.asarray(si.gather_forward(params, jnp.asarray(x), (1, 1, 1))), expected,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(si.bcoo_forward(params, jnp.asarray(x), (1, 1, 1))), expected,
                               rtol=1e-5, atol=1e-5)


def test_the_gather_reads_only_the_active_units():
    params = bench.network_at_sparsity(SIZES, 0.9)
    x = batch(1)
    codes = si.hidden_codes(params, x)
    capacities, _ = si.capacities_for(params, x, multiple=1)
    assert capacities == tuple(max(1, int(np.count_nonzero(h))) for h in codes)
    assert max(capacities) < SIZES[1] // 2


@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.99])
def test_the_network_has_the_fraction_of_zeros_it_is_built_for(sparsity):
    params = bench.network_at_sparsity((50, 200, 200, 200, 3), sparsity)
    x = np.random.default_rng(5).uniform(0.0, 1.0, (1000, 50)).astype(np.float32)
    for h in si.hidden_codes(params, x):
        assert abs(np.mean(h == 0) - sparsity) < 0.05


def test_the_benchmark_writes_its_table(tmp_path):
    bench.main(["--quick", "--sparsity", "0.9", "--batch", "4", "--rounds", "2", "--calls", "1",
                "--out", str(tmp_path)])
    result = json.loads((tmp_path / "benchmarks" / "results" / "sparse_inference_quick.json").read_text())
    (point,) = result["points"]
    assert set(point["speedup"]) == {*bench.BASELINES, "dense_numpy"}
    assert len(point["rounds"]) == 2
    assert "gather_jax" in (tmp_path / "benchmarks" / "results" / "sparse_inference_quick.md").read_text()
