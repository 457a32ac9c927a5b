"""The fused Pallas SGD step (Pallas interpret mode on the CPU) against the engine's XLA step, and the
kernels' lowering to Triton for a CUDA GPU (lowering only: no GPU needed)."""
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.fused_step import IN_AXES, main as bench_main, xla_steps
from deep_sparse import fused_step, mlp, optimizers
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.train import Trainer
from tests.numpy_reference import numpy_sgd_step

KERNELS = fused_step.Kernels(block=16, interpret=True)
# float32 products summed in another order (blocks of 16 against XLA's own): a few ulps of the
# gradients' scale, far under one SGD step's change of a weight (lr * |grad| ~ 1e-3 here)
TOLERANCE = dict(rtol=1e-5, atol=1e-6)


def engine_problem(sizes, activation, k, steps, batch, lr, l1, seed):
    """The engine's Trainer, K networks' parameters and SGD states, shared examples and ``steps``
    mini-batches of indices for each network."""
    trainer = Trainer(TrainConfig(hidden_sizes=tuple(sizes[1:-1]), activation=activation, num_classes=sizes[-1],
                                  batch_size=batch))
    params = jax.vmap(lambda key: mlp.init(key, sizes, activation))(jax.random.split(jax.random.PRNGKey(seed), k))
    hparams = Hparams.stack([dict(lr=lr, l1=l1)] * k)
    opt_state = jax.vmap(lambda p, h: optimizers.init(trainer.optimizer, p, h.lr))(params, hparams)
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.uniform(-1.0, 1.0, (k * steps * batch, sizes[0])).astype(np.float32))
    y = jnp.asarray(rng.integers(0, sizes[-1], k * steps * batch).astype(np.int32))
    batches = jnp.asarray(rng.permutation(k * steps * batch).reshape(k, steps, batch).astype(np.int32))
    return trainer, params, opt_state, hparams, x, y, batches


def engine_steps(trainer, params, opt_state, hparams, x, y, batches):
    """The engine's steps for each network: ``(parameters after, losses)``."""
    (params, _), losses = jax.vmap(functools.partial(xla_steps, trainer), in_axes=IN_AXES)(
        params, opt_state, hparams, x, y, batches)
    return params, losses


def assert_trees_close(actual, expected, **tolerance):
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        assert a.shape == e.shape
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), **tolerance)


widths = st.integers(8, 64)


@settings(max_examples=6, deadline=None)
@given(n_in=widths, hidden=st.lists(widths, min_size=1, max_size=2), classes=st.integers(2, 10),
       batch=st.integers(1, 10), k=st.integers(1, 3), activation=st.sampled_from(sorted(fused_step.KERNEL_ACTIVATIONS)),
       l1=st.sampled_from([0.0, 0.01]), seed=st.integers(0, 2**16))
def test_one_fused_step_is_the_engines_xla_step(n_in, hidden, classes, batch, k, activation, l1, seed):
    sizes = (n_in, *hidden, classes)
    trainer, params, opt_state, hparams, x, y, batches = engine_problem(sizes, activation, k, 1, batch, 0.1, l1, seed)
    expected, expected_loss = engine_steps(trainer, params, opt_state, hparams, x, y, batches)
    step = functools.partial(fused_step.fused_step, activation=activation, kernels=KERNELS)
    actual, loss = jax.jit(jax.vmap(step))(params, hparams.lr, hparams.l1, x[batches[:, 0]], y[batches[:, 0]])
    assert_trees_close(actual, expected, **TOLERANCE)
    np.testing.assert_allclose(loss, expected_loss[:, 0], **TOLERANCE)


@pytest.mark.parametrize("activation", sorted(fused_step.KERNEL_ACTIVATIONS))
def test_each_activation_changes_the_weights_as_the_engine_does(activation):
    # a step that moves every layer (l1 > 0, lr large), so that a wrong slope or sign shows
    problem = engine_problem((24, 40, 20, 5), activation, 2, 1, 10, 0.5, 0.05, 3)
    trainer, params, opt_state, hparams, x, y, batches = problem
    expected, _ = engine_steps(*problem)
    step = functools.partial(fused_step.fused_step, activation=activation, kernels=KERNELS)
    actual, _ = jax.jit(jax.vmap(step))(params, hparams.lr, hparams.l1, x[batches[:, 0]], y[batches[:, 0]])
    moved = [np.max(np.abs(a - p)) for a, p in zip(jax.tree.leaves(expected), jax.tree.leaves(params))]
    assert min(moved) > 1e-4
    assert_trees_close(actual, expected, **TOLERANCE)


@pytest.mark.parametrize("pipelined", [True, False])
def test_several_steps_in_a_row_stay_with_the_engine(pipelined):
    sizes, steps, k = (20, 48, 33, 7), 5, 2
    problem = engine_problem(sizes, "rectifier", k, steps, 10, 0.1, 0.01, 7)
    trainer, params, opt_state, hparams, x, y, batches = problem
    expected, expected_losses = engine_steps(*problem)
    run = functools.partial(fused_step.scan_steps, activation="rectifier", kernels=KERNELS, pipelined=pipelined)
    actual, losses = jax.jit(jax.vmap(run, in_axes=IN_AXES))(params, hparams.lr, hparams.l1, x, y, batches)
    assert_trees_close(actual, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5, atol=1e-5)


def test_padded_units_stay_exactly_zero():
    # softplus is log 2 at 0: a padded unit is held at zero by its scale, not by the activation
    sizes = (20, 24, 5)
    params = mlp.init(jax.random.PRNGKey(0), sizes, "softplus")
    x = jax.random.uniform(jax.random.PRNGKey(1), (10, 20))
    y = jnp.arange(10) % 5
    padded = fused_step.pad(params, 32)
    step = functools.partial(fused_step.padded_step, layer_sizes=sizes, activation="softplus",
                             kernels=fused_step.Kernels(block=32, interpret=True))
    for _ in range(2):
        padded, _ = step(padded, 0.5, 0.01, x, y)
    for layer, n_in, n_out in zip(padded, sizes[:-1], sizes[1:]):
        w, b = np.asarray(layer["w"]), np.asarray(layer["b"])
        assert w.shape == (32, 32) and b.shape == (32,)
        assert np.all(w[n_in:] == 0) and np.all(w[:, n_out:] == 0) and np.all(b[n_out:] == 0)


def test_unit_scale_negates_the_second_half_and_zeroes_the_padding():
    np.testing.assert_array_equal(fused_step.unit_scale("half_negated_rectifier", 5, 8), [1, 1, 1, -1, -1, 0, 0, 0])
    np.testing.assert_array_equal(fused_step.unit_scale("rectifier", 5, 8), [1, 1, 1, 1, 1, 0, 0, 0])


@pytest.mark.parametrize("activation, precision", [(name, None) for name in sorted(fused_step.KERNEL_ACTIVATIONS)]
                         + [("rectifier", name) for name in fused_step.DOT_PRECISIONS])
def test_the_kernels_lower_to_triton_for_a_cuda_gpu(activation, precision):
    # interpret mode checks none of Triton's constraints (power-of-two loads, products of sides >= 16):
    # the lowering to Triton IR does, and it runs without a GPU
    sizes, k = (784, 1000, 10), 2
    params = jax.vmap(lambda key: fused_step.pad(mlp.init(key, sizes), 32))(jax.random.split(jax.random.PRNGKey(0), k))
    step = functools.partial(fused_step.padded_step, layer_sizes=sizes, activation=activation,
                             kernels=fused_step.Kernels(block=32, precision=precision))
    args = (params, jnp.full((k,), 0.1), jnp.full((k,), 0.001), jnp.zeros((k, 10, 784)), jnp.zeros((k, 10), jnp.int32))
    triton = "__gpu$xla.gpu.triton"
    exported = jax.export.export(jax.jit(jax.vmap(step)), platforms=["cuda"],
                                 disabled_checks=[jax.export.DisabledSafetyCheck.custom_call(triton)])(*args)
    module = exported.mlir_module()
    assert module.count(f"custom_call @{triton}") == 2 * (len(sizes) - 1)  # a forward and a backward per layer
    assert "mosaic" not in module


def test_the_pipelined_epoch_lowers_to_triton_for_a_cuda_gpu():
    sizes, k = (784, 1000, 1000, 10), 2
    params = jax.vmap(lambda key: mlp.init(key, sizes))(jax.random.split(jax.random.PRNGKey(0), k))
    run = functools.partial(fused_step.scan_steps, activation="rectifier", kernels=fused_step.Kernels(block=64))
    args = (params, jnp.full((k,), 0.1), jnp.full((k,), 0.001), jnp.zeros((30, 784)), jnp.zeros((30,), jnp.int32),
            jnp.zeros((k, 3, 10), jnp.int32))
    triton = "__gpu$xla.gpu.triton"
    exported = jax.export.export(jax.jit(jax.vmap(run, in_axes=(0, 0, 0, None, None, 0))), platforms=["cuda"],
                                 disabled_checks=[jax.export.DisabledSafetyCheck.custom_call(triton)])(*args)
    # the first batch's first-layer product, then per step: forward and backward of the two upper
    # layers and the first layer's update with the next batch's product
    assert exported.mlir_module().count(f"custom_call @{triton}") == 1 + 2 * 2 + 1


@pytest.mark.parametrize("activation, kernels, batch, message", [
    ("sigmoid", fused_step.Kernels(), 10, "no kernel for activation 'sigmoid'"),
    ("rectifier", fused_step.Kernels(block=24), 10, "block must be a power of two >= 16"),
    ("rectifier", fused_step.Kernels(block=8), 10, "block must be a power of two >= 16"),
    ("rectifier", fused_step.Kernels(precision="highest"), 10, "precision must be one of ieee, tf32x3, tf32"),
    ("rectifier", fused_step.Kernels(), 17, "the mini-batch must hold 1 to 16 examples"),
])
def test_options_the_kernels_cannot_run_are_refused(activation, kernels, batch, message):
    with pytest.raises(ValueError, match=message):
        fused_step.check_options(activation, kernels, batch)


def test_benchmark_runs_both_steps_side_by_side(tmp_path):
    # 3xTF32 products exist on GPUs only: on a CPU that method fails, recorded, and the others still run
    bench_main(["--tiny", "--k", "2", "--steps", "2", "--rounds", "1", "--blocks", "16", "--kernel-precisions",
                "engine", "tf32x3", "--schedules", "pipelined", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "fused_step.json").read_text())
    (point,) = result["points"]
    fused_name = "fused_b16_pipelined"
    assert {"xla", fused_name} <= set(point["methods"]) and result["interpret"] == (jax.default_backend() != "gpu")
    assert set(point["methods"]) | set(point["errors"]) == {"xla", fused_name, "fused_b16_tf32x3_pipelined"}
    fused = point["methods"][fused_name]
    assert fused["network_steps_per_s"] > 0 and fused["max_abs_difference_vs_xla"] < 1e-5
    assert fused_name in (tmp_path / "fused_step.md").read_text()


@pytest.mark.parametrize("activation", ["rectifier", "tanh"])
def test_one_fused_step_is_sgd_on_nll_plus_l1_by_hand_in_numpy(activation):
    sizes, batch, lr, l1 = (12, 20, 16, 5), 7, 0.1, 0.01
    params = mlp.init(jax.random.PRNGKey(3), sizes, activation)
    rng = np.random.default_rng(3)
    params = [dict(layer, b=jnp.asarray(rng.normal(0, 0.2, layer["b"].shape), jnp.float32)) for layer in params]
    x = rng.uniform(-1.0, 1.0, (batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch).astype(np.int32)
    after, loss = fused_step.fused_step(params, jnp.float32(lr), jnp.float32(l1), jnp.asarray(x), jnp.asarray(y),
                                        activation=activation, kernels=KERNELS)
    expected, expected_loss = numpy_sgd_step(params, lr, l1, x, y, activation)
    np.testing.assert_allclose(float(loss), expected_loss, rtol=1e-5)
    for layer, reference in zip(after, expected, strict=True):
        np.testing.assert_allclose(np.asarray(layer["w"]), reference["w"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(layer["b"]), reference["b"], rtol=1e-5, atol=1e-6)
