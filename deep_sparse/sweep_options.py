"""How a sweep runs, as data: :class:`SweepOptions`, the options of :func:`deep_sparse.sweep.run` that
change where and how the networks are trained and recorded, never what they compute (the config, the
grid and the base hyperparameters say that). Every field is checked when the options are made, so a
bad value is one error line naming the field, before any file is written.

    options = SweepOptions(resume=True, chunk_size=8, progress="lines")
    rows = ds.sweep.run(config, grid, "runs/demo", options=options)
    rows = ds.sweep.run(config, grid, "runs/demo", options=dataclasses.replace(options, deadline=t))
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional, Sequence

from deep_sparse.config import HPARAM_NAMES
from deep_sparse.devices import BATCHINGS

PROGRESS_MODES = (True, False, "lines")


@dataclasses.dataclass(frozen=True)
class SweepOptions:
    """The run options of a sweep (:func:`deep_sparse.sweep.run`); the defaults train every network
    from scratch in an automatic chunk size on every local device, with a progress bar."""

    resume: bool = False
    """Continue the sweep already in the output folder (the same plan only) from its finished chunks and
    its running chunk's last checkpoint."""

    chunk_size: Optional[int] = None
    """Networks per compiled step, a positive multiple of the number of devices; None:
    :func:`~deep_sparse.devices.auto_chunk_size`, fitted to memory. A resumed sweep may change it:
    finished networks are recorded per network, the others are chunked anew."""

    devices: Optional[Sequence] = None
    """The JAX devices the chunk axis is split over (``shard_map``); None: every device."""

    batching: str = "auto"
    """How a device runs its networks: ``"vmap"``, ``"map"`` (``lax.map``) or ``"auto"``
    (:func:`~deep_sparse.devices.resolve_batching`)."""

    precompile: Optional[bool] = None
    """Compile a chunk's fine-tuning epoch for every bucket size it can be compacted to (and its
    finalization) when the chunk starts, in parallel threads, instead of one after another as it
    shrinks; results are the same either way. None: on accelerators, off on CPU
    (:func:`~deep_sparse.devices.resolve_precompile` says why)."""

    checkpoint_every: int = 1
    """Checkpoint the running chunk every this many epochs (0: only finished chunks are saved)."""

    checkpoint_seconds: float = 0.0
    """And at least this many seconds apart (for large chunks on fast devices, where a checkpoint costs
    more than an epoch). Checkpoints are written in the background."""

    deadline: Optional[float] = None
    """A ``time.time()`` value: the sweep raises :class:`~deep_sparse.names.DeadlineReached` at the first
    epoch boundary after which the running chunk could not finish in time (every remaining epoch at the
    median speed of its recent epochs, the next one at the slowest of them), after checkpointing it.
    None: no deadline."""

    data_dir: Optional[str] = None
    """Where the data sets are, when the sweep loads them itself (no ``data`` given to ``run``)."""

    download: bool = True
    """Whether a missing data set may be downloaded (checksums verified) when the sweep loads it."""

    progress: bool | str = True
    """``True``: a bar on a terminal, else a line per epoch; ``"lines"``: a line per epoch; ``False``:
    nothing per epoch (:class:`~deep_sparse.progress.Progress`)."""

    argv: Optional[tuple[str, ...]] = None
    """The command recorded with the results (None: ``sys.argv``)."""

    extra_metadata: Optional[Mapping[str, Any]] = None
    """More fields recorded in ``results.json`` (the experiment, its preset, ...)."""

    select_pretrain_lr: Optional[tuple[str, ...]] = None
    """None fine-tunes every network. Hyperparameter names (``()`` for none) select the pre-training lr
    before fine-tuning, as the paper does (section 4.1: "We select the model with the lowest
    reconstruction error"): once a group's stacks are pre-trained, only the networks of the
    pre-training lr of lowest reconstruction error (:func:`deep_sparse.selection.lowest_reconstruction`,
    per group and per combination of these fields) are fine-tuned. The others are recorded as not
    fine-tuned (``not_finetuned`` in ``results.json``, with their stack's reconstruction error) and left
    out of the rows, so that the selection of :mod:`deep_sparse.selection` on the rows picks the same
    network as on a full sweep, for a quarter of the fine-tuning on the paper's four pre-training lrs.
    Where the lr is chosen per layer (``TrainConfig.pretrain_lr_selection``), the candidates of a
    setting end as one stack: with None its networks are fine-tuned once, under the setting's first
    pre-training lr (:data:`deep_sparse.layer_choice.SHARED_FIELDS` tell the settings apart)."""

    reuse_rows_from: tuple[str, ...] = ()
    """Folders of other sweeps whose finished networks are taken instead of trained where they are the
    same computation (:mod:`deep_sparse.reuse`: same data, seed, and configuration and hyperparameters
    as far as the network reads them); each such row says where it comes from (``reused_from``)."""

    metrics: bool = True
    """Write each network's values after each epoch to ``metrics.jsonl`` and TensorBoard event files
    under ``tensorboard/`` as they are produced (:mod:`deep_sparse.metrics_log`)."""

    log: Callable[[str], None] = dataclasses.field(default=print, compare=False, repr=False)
    """Where the sweep's lines go."""

    def __post_init__(self):
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer or None, got {self.chunk_size}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        if not self.checkpoint_seconds >= 0:
            raise ValueError(f"checkpoint_seconds must be >= 0, got {self.checkpoint_seconds}")
        if self.deadline is not None and not isinstance(self.deadline, (int, float)):
            raise ValueError(f"deadline must be a time.time() value or None, got {self.deadline!r}")
        if self.batching not in BATCHINGS:
            raise ValueError(f"batching must be one of {', '.join(BATCHINGS)}, got {self.batching!r}")
        if self.precompile is not None and not isinstance(self.precompile, bool):
            raise ValueError(f"precompile must be True, False or None (automatic), got {self.precompile!r}")
        if self.progress not in PROGRESS_MODES:
            raise ValueError(f"progress: expected True, False or 'lines', got {self.progress!r}")
        if isinstance(self.reuse_rows_from, str):
            raise ValueError(f"reuse_rows_from must be a sequence of folders, got the string {self.reuse_rows_from!r}")
        object.__setattr__(self, "reuse_rows_from", tuple(self.reuse_rows_from))
        if self.argv is not None:
            object.__setattr__(self, "argv", tuple(self.argv))
        if self.devices is not None:
            object.__setattr__(self, "devices", tuple(self.devices))
        if self.select_pretrain_lr is not None:
            object.__setattr__(self, "select_pretrain_lr", _selection_fields(self.select_pretrain_lr))


def _selection_fields(fields: str | Sequence[str]) -> tuple[str, ...]:
    """The names a pre-training selection is made within: hyperparameters that tell settings apart."""
    fields = (fields,) if isinstance(fields, str) else tuple(fields)
    allowed = [name for name in HPARAM_NAMES + ("seed",) if name not in ("lr", "pretrain_lr")]
    unknown = [name for name in fields if name not in allowed]
    if unknown:
        raise ValueError(f"select_pretrain_lr: {', '.join(map(repr, unknown))} cannot tell settings apart; "
                         f"expected names among {', '.join(allowed)}")
    return fields
