"""What a sweep reports after each epoch, and where: the latest values of a chunk's learning curves
(:class:`~deep_sparse.train_state.Curves`), picked on the device and brought to the host in one
transfer, the progress line computed from them, and :class:`Progress`, which draws the bar or the
lines and hands the values to the metrics log (:class:`~deep_sparse.metrics_log.MetricsLog`).
"""
from __future__ import annotations

import warnings
from typing import Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from deep_sparse import distributed
from deep_sparse.metrics_log import MetricsLog
from deep_sparse.planner import Network

FINETUNE = "finetune"
# the curves an epoch of each kind of stage records (pre-training stages are pretrain_layer_<1-based layer>)
FINETUNE_CURVES = ("train_loss", "valid_error", "valid_sparsity")
PRETRAIN_CURVES = ("pretrain_loss", "pretrain_valid_loss")


class Progress:
    """Where a sweep reports. ``mode``: ``True`` a tqdm bar of network-epochs on a terminal (or in a
    notebook) and elsewhere (a log file, a pipe: no bar frames) a line per epoch; ``"lines"`` a line
    per epoch, never a bar; ``False`` quiet, nothing per epoch. While a bar is drawn, ``log``'s lines go
    through tqdm's ``external_write_mode`` (the bar cleared first), never into the bar's line.
    ``metrics``: where each network's values after each epoch are written (a
    :class:`~deep_sparse.metrics_log.MetricsLog`; None: nowhere), whatever ``mode``."""

    def __init__(self, total: int, mode: bool | str = True, log: Callable[[str], None] = print,
                 metrics: Optional[MetricsLog] = None):
        if mode not in (True, False, "lines"):
            raise ValueError(f"progress: expected True, False or 'lines', got {mode!r}")
        # disable=None: tqdm draws only on a terminal (and always in a notebook, whose bar is a widget)
        self.bar = tqdm(total=total, unit="net-epoch", disable=None if mode is True else True, dynamic_ncols=True,
                        smoothing=0.1)
        self.epoch_lines = mode is not False and self.bar.disable
        self._log = log
        self.metrics = metrics
        self.advanced = 0  # network-epochs done or recorded (a disabled bar counts nothing)

    def log(self, message: str) -> None:
        with tqdm.external_write_mode():
            self._log(message)

    def advance(self, network_epochs: int) -> None:
        self.advanced += network_epochs
        self.bar.update(network_epochs)

    def epoch(self, summary: str) -> None:
        self.bar.set_postfix_str(summary, refresh=False)
        if self.epoch_lines:
            self.log(summary)

    def after_epoch(self, label: str, stage: str, epoch_count: int, state, chunk_slots: Sequence[int],
                    networks: Sequence[Network]) -> None:
        """Report an epoch of ``stage``: its progress line (:func:`summary`) and each network's values
        to the metrics log, both from one transfer (:func:`latest_values`; none for a pre-training
        epoch without a metrics log). ``state``: the bucket's, whose live slot ``i`` holds the network
        ``networks[chunk_slots[i]]`` (the slots after ``len(chunk_slots)`` are padding)."""
        wanted = stage == FINETUNE or self.metrics is not None
        latest = latest_values(state, stage, len(chunk_slots)) if wanted else None
        self.epoch(summary(label, stage, epoch_count, latest))
        if self.metrics is not None:
            self.metrics.write(stage, by_network(latest, chunk_slots, networks))

    def close(self) -> None:
        self.bar.close()
        if self.metrics is not None:
            self.metrics.close()


class LatestValues(NamedTuple):
    """Each slot's epochs of a stage run and its curves' values at the latest of them, on the host.
    A slot that has run none holds the values of the curves' last epoch (NaN), reported as none."""

    epochs: np.ndarray  # [slots] epochs of the stage run
    values: dict  # curve name -> [slots] value after the slot's latest epoch


def _stage_layer(stage: str) -> Optional[int]:
    """The 0-based layer a pre-training stage trains (None: fine-tuning)."""
    return None if stage == FINETUNE else int(stage.rsplit("_", 1)[1]) - 1


@jax.jit
def _finetune_latest(epoch, curves: dict):
    """``(epoch, {name: curve[slot, epoch[slot] - 1]})``: a gather, so exactly the recorded values."""
    rows = jnp.arange(epoch.shape[0])
    return epoch, {name: curve[rows, epoch - 1] for name, curve in curves.items()}


@jax.jit
def _pretrain_latest(pretrain_epoch, curves: dict, layer):
    """``(pretrain_epoch[:, layer], {name: curve[slot, layer, that epoch - 1]})``."""
    epoch = pretrain_epoch[:, layer]
    rows = jnp.arange(epoch.shape[0])
    return epoch, {name: curve[rows, layer, epoch - 1] for name, curve in curves.items()}


def latest_values(state, stage: str, n_live: int) -> LatestValues:
    """The latest epoch of ``stage`` and the values its curves recorded there, of the first ``n_live``
    slots of ``state`` (a :class:`~deep_sparse.train_state.TrainState` batched over slots): picked on
    the device, then one device-to-host transfer of a few numbers per slot, not the whole curves."""
    layer = _stage_layer(stage)
    if layer is None:
        picked = _finetune_latest(state.epoch, {name: getattr(state.curves, name) for name in FINETUNE_CURVES})
    else:
        picked = _pretrain_latest(state.pretrain_epoch, {name: getattr(state.curves, name) for name in PRETRAIN_CURVES},
                                  layer)
    epochs, values = distributed.to_host(picked)
    return LatestValues(np.asarray(epochs)[:n_live], {name: np.asarray(v)[:n_live] for name, v in values.items()})


def summary(label: str, stage: str, epoch_count: int, latest: Optional[LatestValues]) -> str:
    """The progress line of an epoch: for fine-tuning, the mean training loss, validation error and
    validation sparsity (fraction of exact zeros) over the slots of ``latest``, each after its own latest
    epoch, ignoring NaN (a diverged network; all NaN reads nan); for pre-training (``latest`` unused,
    may be None), the stage and the chunk's epoch count."""
    if stage != FINETUNE:
        return f"{label} {stage} (epoch {epoch_count} of the chunk)"
    with warnings.catch_warnings():  # all-NaN (every network diverged) is reported as nan
        warnings.simplefilter("ignore", RuntimeWarning)
        return (f"{label} finetune epoch {int(latest.epochs.max())}: "
                f"loss {np.nanmean(latest.values['train_loss']):.4f} "
                f"valid {100 * np.nanmean(latest.values['valid_error']):.2f}% "
                f"zeros {100 * np.nanmean(latest.values['valid_sparsity']):.1f}%")


def by_network(latest: LatestValues, chunk_slots: Sequence[int],
               networks: Sequence[Network]) -> dict[int, tuple[int, dict[str, float]]]:
    """``{network index: (its epochs of the stage run, {curve: value at the latest})}``, the form
    :meth:`MetricsLog.write` takes; ``chunk_slots``: the chunk slot (index into ``networks``) of each
    slot of ``latest``. A network that has run no epoch of the stage has no values."""
    table = {}
    for row, slot in enumerate(chunk_slots):
        epoch = int(latest.epochs[row])
        values = {name: column[row] for name, column in latest.values.items()}
        table[networks[slot].index] = (epoch, values if epoch > 0 else {})
    return table
