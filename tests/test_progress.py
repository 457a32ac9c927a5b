"""What a chunk reports after each epoch: each slot's latest curve values picked on the device and
brought to the host in one transfer per epoch (never the whole curves), the progress line computed
from those host values, and the metrics log fed from the same values."""
import jax
import numpy as np
import pytest

from deep_sparse import distributed, progress as progress_module
from deep_sparse.config import Hparams
from deep_sparse.devices import make_mesh
from deep_sparse.executor import ChunkExecutor, ChunkPolicy
from deep_sparse.metrics_log import MetricsLog, read_lines
from deep_sparse.planner import Network
from deep_sparse.progress import LatestValues, Progress, by_network, latest_values, summary
from deep_sparse.train import make_train
from deep_sparse.train_state import Curves
from test_sweep import CONFIG, make_data


def test_the_progress_line_is_the_mean_of_the_host_values_ignoring_nan():
    latest = LatestValues(np.array([2, 3, 1], np.int32), {
        "train_loss": np.array([0.5, np.nan, 0.25], np.float32),
        "valid_error": np.array([0.1, 0.2, 0.3], np.float32),
        "valid_sparsity": np.array([0.5, 0.75, 1.0], np.float32)})
    assert summary("group 0", "finetune", 7, latest) == "group 0 finetune epoch 3: loss 0.3750 valid 20.00% zeros 75.0%"
    diverged = latest._replace(values=dict(latest.values, train_loss=np.full(3, np.nan, np.float32)))
    assert "loss nan " in summary("group 0", "finetune", 7, diverged)
    assert summary("group 1", "pretrain_layer_2", 4, None) == "group 1 pretrain_layer_2 (epoch 4 of the chunk)"


def test_values_by_network_follow_the_chunk_slots_and_an_unrun_stage_has_none():
    networks = [Network(index=10 + i, seed=i, hparams=Hparams()) for i in range(4)]
    latest = LatestValues(np.array([2, 0], np.int32), {"pretrain_loss": np.array([0.5, np.nan], np.float32)})
    assert by_network(latest, [3, 1], networks) == {13: (2, {"pretrain_loss": np.float32(0.5)}), 11: (0, {})}


class TransferSpy:
    """``distributed`` with each ``to_host`` call's leaf shapes recorded."""

    def __init__(self, real_to_host=distributed.to_host):
        self.real_to_host = real_to_host
        self.shapes: list[list[tuple]] = []

    def to_host(self, tree):
        self.shapes.append([np.shape(leaf) for leaf in jax.tree.leaves(tree)])
        return self.real_to_host(tree)


def fake_state(rng, slots, epochs, layers, pretrain_epochs):
    """A batched TrainState's reported fields (epoch counts, curves) with random values; epoch 0 included."""
    curves = Curves(*(rng.normal(size=shape).astype(np.float32) for shape in
                      [(slots, epochs)] * 3 + [(slots, layers, pretrain_epochs)] * 2))
    return jax.device_put(dict(epoch=rng.integers(0, epochs + 1, slots).astype(np.int32),
                               pretrain_epoch=rng.integers(0, pretrain_epochs + 1, (slots, layers)).astype(np.int32),
                               curves=curves))


@pytest.mark.parametrize("stage", ["finetune", "pretrain_layer_1", "pretrain_layer_2"])
def test_latest_values_are_the_recorded_ones_in_one_transfer_of_one_number_per_slot(stage, monkeypatch):
    rng = np.random.default_rng(0)
    fields = fake_state(rng, slots=6, epochs=5, layers=2, pretrain_epochs=4)
    state = type("State", (), fields)  # attribute access, as on a TrainState
    spy = TransferSpy()
    monkeypatch.setattr(progress_module, "distributed", spy)
    latest = latest_values(state, stage, n_live=4)
    assert spy.shapes == [[(6,)] * (1 + len(latest.values))]  # one transfer, no (slots, epochs) curve

    host = jax.device_get(fields)
    rows = np.arange(4)
    if stage == "finetune":
        epochs, names = host["epoch"][:4], progress_module.FINETUNE_CURVES
        expected = {name: getattr(host["curves"], name)[rows, epochs - 1] for name in names}
    else:
        layer = int(stage[-1]) - 1
        epochs, names = host["pretrain_epoch"][:4, layer], progress_module.PRETRAIN_CURVES
        expected = {name: getattr(host["curves"], name)[rows, layer, epochs - 1] for name in names}
    np.testing.assert_array_equal(latest.epochs, epochs)
    assert set(latest.values) == set(names)
    for name in names:  # a gather: bitwise the recorded values, same dtype
        assert latest.values[name].dtype == expected[name].dtype
        np.testing.assert_array_equal(latest.values[name], expected[name])


def test_a_chunk_transfers_one_number_per_slot_per_value_each_epoch(tmp_path, monkeypatch):
    """Through the executor's loop with a metrics log: each epoch one transfer for the report (and,
    fine-tuning, one of the stopped flags for compaction), never a whole curve; the progress lines
    are the NumPy means of the final curves at each network's epoch."""
    config = CONFIG.replace(pretrain_epochs=2, epochs=3)
    networks = [Network(index=i, seed=i, hparams=Hparams(lr=lr)) for i, lr in enumerate((0.1, 0.03, 0.01))]
    executor = ChunkExecutor(make_train(config), make_data(config), make_mesh(jax.devices()[:1]), "map")
    size = 4
    state = executor.initial_state(networks, size)
    spy = TransferSpy()
    monkeypatch.setattr(distributed, "to_host", spy.to_host)
    lines = []
    report = Progress(0, "lines", lines.append, metrics=MetricsLog(str(tmp_path), {n.index: 0 for n in networks},
                                                                   tensorboard=False))
    # on an accelerator, no implicit transfer either (on the CPU a host array is shared, never guarded)
    with jax.transfer_guard_device_to_host("disallow"):
        state = executor.run_stages(state, networks, size, executor.train.stages, label="chunk", checkpoint=None,
                                    policy=ChunkPolicy(checkpoint_every=0), progress=report)
    report.close()
    pretrain_epochs, finetune_epochs = 2 * config.pretrain_epochs, config.epochs
    assert len(lines) == pretrain_epochs + finetune_epochs
    assert len(spy.shapes) == pretrain_epochs + 2 * finetune_epochs
    assert all(shape == (size,) for shapes in spy.shapes for shape in shapes)

    host = jax.device_get(state)
    for epoch, line in enumerate(lines[pretrain_epochs:], start=1):
        at = np.minimum(epoch, host.epoch[:3]) - 1  # a stopped network reports its last epoch
        rows = np.arange(3)
        assert line == (f"chunk finetune epoch {epoch}: loss {np.nanmean(host.curves.train_loss[rows, at]):.4f} "
                        f"valid {100 * np.nanmean(host.curves.valid_error[rows, at]):.2f}% "
                        f"zeros {100 * np.nanmean(host.curves.valid_sparsity[rows, at]):.1f}%")
    logged = [line for line in read_lines(str(tmp_path / "metrics.jsonl")) if line["stage"] == "finetune"]
    assert len(logged) == 3 * finetune_epochs
