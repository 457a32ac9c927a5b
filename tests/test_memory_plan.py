"""A vmapped chunk shares one copy of the data: XLA's memory plan of a vmapped epoch must not grow by
K copies of the training set when the training set grows (read from ``compiled.memory_analysis()`` of
a tiny config; compiled, never run)."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import memory_plan
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.train import make_train, prepare_data
from test_train import blobs, small_config

K, N_IN = 4, 32
SMALL, LARGE = 1000, 4000
ONE_COPY = (LARGE - SMALL) * N_IN * 4  # bytes the larger training set adds, once
CONFIG = TrainConfig(hidden_sizes=(16, 16), num_classes=3, epochs=2, pretrain_epochs=1, eval_batch_size=100)


def temp_growth(stage: str, variant: str) -> int:
    """Temporary bytes XLA plans for K networks on the large training set minus on the small one."""
    small, large = (memory_plan.epoch_plan(CONFIG, memory_plan.data_shapes(n, 200, 200, N_IN, 3), K, variant, stage)
                    for n in (SMALL, LARGE))
    return large["temp"] - small["temp"]


@pytest.mark.parametrize("stage", ["finetune", "pretrain_layer_1"])
def test_a_vmapped_epoch_keeps_one_copy_of_the_training_set(stage):
    # K copies would add K * ONE_COPY; what may grow per network is the shuffled order (4 bytes an example)
    assert temp_growth(stage, "current") < ONE_COPY


def test_the_plan_sees_the_copies_of_a_plain_cond():
    # the measurement can fail: the stop guard as a plain lax.cond broadcasts the data to every network
    assert temp_growth("finetune", "cond") >= K * ONE_COPY


def test_the_batched_guard_computes_the_bits_of_the_plain_cond():
    # pre-training and fine-tuning under vmap, with a network that diverges in pre-training (stopped
    # from then on) and networks that stop early at different epochs
    config = small_config(epochs=5, patience=1, pretrain_epochs=2)
    data = prepare_data(config, blobs())
    hparams = Hparams.stack([dict(lr=0.1, l1=0.0, pretrain_lr=0.01), dict(lr=0.03, l1=1e-3, pretrain_lr=0.01),
                             dict(lr=0.1, l1=0.0, pretrain_lr=1e4)])
    keys = jnp.stack([jax.random.PRNGKey(i) for i in range(3)])
    results = {}
    for variant in memory_plan.VARIANTS:
        with memory_plan.variant_guard(variant):
            results[variant] = jax.jit(jax.vmap(make_train(config), in_axes=(0, 0, None)))(keys, hparams, data)
    assert np.asarray(results["current"].diverged).tolist() == [False, False, True]
    assert len(set(np.asarray(results["current"].epochs_run).tolist())) > 1
    for mine, theirs in zip(jax.tree.leaves(results["current"]), jax.tree.leaves(results["cond"]), strict=True):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))


def test_the_benchmark_writes_its_tables(tmp_path):
    memory_plan.main(["--quick", "--k", "2", "4", "--budget-gib", "0.001", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "benchmarks" / "results" / "memory_plan_quick.json").read_text())
    assert {r["variant"] for r in result["rows"]} == set(memory_plan.VARIANTS)
    assert result["largest_k"]["current"]["k"] > result["largest_k"]["cond"]["k"]
    assert "largest K" in (tmp_path / "benchmarks" / "results" / "memory_plan_quick.md").read_text()
