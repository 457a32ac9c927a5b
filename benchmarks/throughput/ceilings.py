"""The machine's own ceilings, measured in the same run as the methods: fp32 GFLOP/s of a large square
matrix product (JAX and NumPy), of each matrix product of the SGD step at its own shape, and the
bandwidth of a large copy. Each is the median of at least 3 timed calls after one untimed call."""
from __future__ import annotations

import statistics

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.throughput.problem import layer_sizes, step_products
from benchmarks.throughput.timing import short_call_repeats, gflops, time_calls


def square_product_gflops(n: int, repeats: int, rng) -> dict:
    """GFLOP/s of one ``n x n @ n x n`` fp32 product, under ``jax.jit`` and under NumPy."""
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    matmul = jax.jit(jnp.matmul)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    jax.block_until_ready(matmul(ja, jb))
    out = {"jax_square_gflops": gflops(2 * n**3, time_calls(lambda: jax.block_until_ready(matmul(ja, jb)), repeats))}
    np.matmul(a, b)
    out["numpy_square_gflops"] = gflops(2 * n**3, time_calls(lambda: np.matmul(a, b), repeats))
    return out


def repeated_product(inner: int):
    """``jit`` of ``inner`` products ``(x + i) @ w`` summed inside one compiled loop: no dispatch cost
    per product, and ``x + i`` keeps XLA from hoisting the product out of the loop."""
    @jax.jit
    def repeated(x, w):
        def body(i, acc):
            return acc + (x + i.astype(jnp.float32)) @ w
        return jax.lax.fori_loop(0, inner, body, jnp.zeros((x.shape[0], w.shape[1]), jnp.float32))

    return repeated


def step_product_gflops(label: str, shape_a, shape_b, inner: int, repeats: int, rng) -> dict:
    """``{"shape", "jax_gflops", "numpy_gflops"}`` of one of the step's products, repeated ``inner``
    times per timed call (JAX: in one compiled loop; NumPy: a Python loop)."""
    x, w = jnp.asarray(rng.random(shape_a, dtype=np.float32)), jnp.asarray(rng.random(shape_b, dtype=np.float32))
    repeated = repeated_product(inner)
    jax.block_until_ready(repeated(x, w))
    flops = 2 * shape_a[0] * shape_a[1] * shape_b[1] * inner
    xn, wn = np.asarray(x), np.asarray(w)
    return {
        "shape": label,
        "jax_gflops": gflops(flops, time_calls(lambda: jax.block_until_ready(repeated(x, w)), repeats)),
        "numpy_gflops": gflops(flops, time_calls(lambda: [xn @ wn for _ in range(inner)], repeats)),
    }


def copy_bandwidth(n_bytes: int, repeats: int) -> dict:
    """GB/s of ``np.copyto`` of ``n_bytes`` (read + write counted)."""
    source = np.ones(n_bytes // 4, np.float32)
    target = np.empty_like(source)
    np.copyto(target, source)
    seconds = statistics.median(time_calls(lambda: np.copyto(target, source), repeats))
    return {"copy_bytes": source.nbytes, "copy_gb_per_s": 2 * source.nbytes / seconds / 1e9}


def measure_ceilings(spec: dict) -> dict:
    """Every ceiling of ``spec`` (``square``: n of the square product; ``inner``: products per timed
    call of a step shape; ``copy_bytes``); ``peak_gflops`` is the better square product."""
    repeats, rng = short_call_repeats(spec["repeats"]), np.random.default_rng(0)
    out = {"square_n": spec["square"], **square_product_gflops(spec["square"], repeats, rng)}
    out["step_shapes"] = [step_product_gflops(label, a, b, spec["inner"], repeats, rng)
                          for label, a, b in step_products(layer_sizes(spec["hidden"]))]
    out.update(copy_bandwidth(spec["copy_bytes"], repeats))
    out["peak_gflops"] = max(out["jax_square_gflops"], out["numpy_square_gflops"])
    return out
