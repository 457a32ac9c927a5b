"""Running an experiment: what every experiment does with its preset (:mod:`deep_sparse.presets`).

One :class:`Run` is one invocation of an experiment: it opens each data set at the preset's size (a
data set that cannot be had is a reason, never a crash), runs the sweeps with the metadata every result
records, and writes the records of our numbers beside the paper's cells (:func:`cell`)::

    run = Run("table1", preset, out="runs/table1", argv=("-m", "sweeps.table1", "--epochs", "30"))
    folder, config, data, reason = run.open_dataset("mnist", preset.train_config("mnist"))
    rows = run.sweep(config, grid, folder, data, dataset="mnist")
    run.finish(cells, summary)                           # cells.json and summary.md in run.out
"""
from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional, Sequence

# The training modules (and JAX) are reached through the package, which imports them on first use: the
# command lines import this module to build their parsers, and --help must not wait seconds for JAX.
import deep_sparse as ds
from deep_sparse import data as data_lib
from deep_sparse import portable, results_io
from deep_sparse.presets import Generated, Preset, Subset

if TYPE_CHECKING:
    from deep_sparse.config import TrainConfig
    from deep_sparse.sweep_options import SweepOptions
    from deep_sparse.train import Data

__all__ = ["load_splits", "load_dataset", "split_sizes", "cell", "write_cells", "write_not_run", "run_sweep",
           "OpenedDataset", "Run"]


# ------------------------------------------------------------------------------ data
def load_splits(name: str, data_dir: Optional[str], download: bool = True, **options):
    """``(splits, None)`` or ``(None, reason)``: a data set that cannot be had is a reason, not a crash.

    Files that are absent give ``"not run: no files in DIR"``; any other failure of the loader is named
    in the reason. ``download`` is passed on (the experiments download what they need unless offline).
    """
    directory = data_lib.default_data_dir(data_dir)

    def recorded(reason: str) -> str:  # the reason is committed with the results: no local path, no host
        return portable.portable_text(reason, data_dir=directory)

    try:
        return data_lib.load_splits(name, data_dir=data_dir, download=download, **options), None
    except FileNotFoundError as error:
        return None, recorded(f"not run: no files in {directory} ({error})")
    except Exception as error:  # noqa: BLE001 - any loader failure becomes an honest line in the report
        return None, recorded(f"not run: loading {name} from {directory} failed ({type(error).__name__}: {error})")


def load_dataset(name: str, sizes: Subset | Generated, base: TrainConfig, data_dir: Optional[str] = None,
                 download: bool = True):
    """``(config, data, None)`` for data set ``name`` at ``sizes``, or ``(None, None, reason)``.

    ``config`` is ``base`` on ``name``, with its number of classes (``deep_sparse.data.num_classes``)
    and the subset of ``sizes`` (first n examples, applied by ``prepare_data``); a generated data set
    gets the generator's options of ``sizes``. A missing data set is downloaded (pooch, checksums
    verified) unless ``download`` is false.
    """
    splits, reason = load_splits(name, data_dir, download=download, **sizes.loader_options())
    if reason is not None:
        return None, None, reason
    config = base.replace(dataset=name, num_classes=data_lib.num_classes(name), **sizes.config_fields())
    try:
        data = ds.train.prepare_data(config, splits)
    except ValueError as error:
        return None, None, f"not run: {name}: {error}"
    return config, data, None


def split_sizes(data) -> dict:
    """Examples per split of a ``deep_sparse.train.Data`` (the sample sizes the report states)."""
    return {"n_train": int(data.x_train.shape[0]), "n_valid": int(data.x_valid.shape[0]),
            "n_test": int(data.x_test.shape[0])}


# ------------------------------------------------------------------------------ records
def cell(experiment: str, preset: str, dataset: str, label: str, metric: str, ours, paper_key=None, **extra) -> dict:
    """One comparable number: ours (None if not run) beside the paper's cell ``paper_key``
    (``sweeps.paper_numbers``); ``preset`` is the preset's label."""
    record = {"experiment": experiment, "preset": preset, "dataset": dataset, "cell": label, "metric": metric,
              "ours": None if ours is None else float(ours), "paper_key": paper_key}
    record.update(extra)
    return record


def write_cells(folder: str, cells: Sequence[dict]) -> None:
    """``cells.json``: each of our numbers with its paper cell id, for ``sweeps.report``."""
    results_io.atomic_write_json(os.path.join(folder, "cells.json"), {"cells": list(cells)})


def write_not_run(folder: str, reason: str, argv: Sequence[str], metadata: dict) -> None:
    """A ``results.json`` with no rows that says why (read by ``sweeps.report``)."""
    payload = results_io.provenance(argv, out=folder)
    payload.update(metadata)
    payload.update({"complete": False, "not_run": reason, "rows": []})
    results_io.claim_output_folder(folder)
    results_io.atomic_write_json(os.path.join(folder, "results.json"), payload)


def run_sweep(config: TrainConfig, grid, folder: str, data, *, argv: Sequence[str], metadata: dict,
              options: Optional[SweepOptions] = None, base_hparams=None) -> list[dict]:
    """``deep_sparse.sweep.run`` recording ``argv``, ``metadata`` and the data's split sizes with the
    results; ``options``: the sweep's run options (:class:`~deep_sparse.sweep_options.SweepOptions`,
    None: the defaults); ``base_hparams``: the values of the hyperparameters the grid leaves out."""
    extra = dict(metadata)
    if data is not None:
        extra["sizes"] = split_sizes(data)
    options = dataclasses.replace(options or ds.sweep.SweepOptions(), argv=tuple(argv), extra_metadata=extra)
    return ds.sweep.run(config, grid, folder, data=data, base_hparams=base_hparams, options=options)


class OpenedDataset(NamedTuple):
    """One data set of a run: its folder, and its config and data, or why it is not run."""

    folder: str
    config: Optional[TrainConfig]
    data: Optional[Data]
    reason: Optional[str]


@dataclasses.dataclass(frozen=True)
class Run:
    """One invocation of an experiment: which one, with which preset, writing where, how it sweeps.

    experiment: the name results record ("table1"); out: the output folder (one subfolder per data
    set); argv: the command as typed, recorded with every result; data_dir, download: where data sets
    are and whether a missing one may be downloaded; sweep_options: the run options of
    ``deep_sparse.sweep.run`` (:class:`~deep_sparse.sweep_options.SweepOptions`; None: the defaults,
    made with the run, which is when the training modules and JAX are first imported).
    """

    experiment: str
    preset: Preset
    out: str
    argv: tuple[str, ...] = ()
    data_dir: Optional[str] = None
    download: bool = True
    sweep_options: Optional[SweepOptions] = None
    log: Callable[[str], None] = dataclasses.field(default=print, compare=False, repr=False)

    def __post_init__(self):
        if self.sweep_options is None:
            object.__setattr__(self, "sweep_options", ds.sweep.SweepOptions())

    def metadata(self, **more) -> dict:
        """What every results file of the run records: experiment, preset label and settings, ``more``."""
        return {"experiment": self.experiment, "preset": self.preset.label, "preset_settings": self.preset.settings(),
                **more}

    def open_dataset(self, dataset: str, base: TrainConfig) -> OpenedDataset:
        """``dataset`` at the preset's size in ``base`` (:func:`load_dataset`), its folder ``out/dataset``
        (created by the sweep once its inputs are checked); one that cannot be had is logged with its
        reason and recorded as not run in its folder."""
        folder = os.path.join(self.out, dataset)
        config, data, reason = load_dataset(dataset, self.preset.sizes_of(dataset), base, self.data_dir,
                                            self.download)
        if reason is not None:
            self.log(f"{dataset}: {reason}")
            results_io.claim_output_folder(self.out)  # so that a run of only not-run data sets is ours
            write_not_run(folder, reason, self.argv, self.metadata(dataset=dataset))
        return OpenedDataset(folder, config, data, reason)

    def sweep(self, config: TrainConfig, grid, folder: str, data, *,
              select_pretrain_lr: Optional[Sequence[str]] = None, **more) -> list[dict]:
        """:func:`run_sweep` with the run's options and metadata (``more`` added to it);
        ``select_pretrain_lr``: as in :class:`~deep_sparse.sweep_options.SweepOptions` (the experiment's
        procedure, not a command-line option)."""
        options = dataclasses.replace(self.sweep_options, select_pretrain_lr=select_pretrain_lr)
        return run_sweep(config, grid, folder, data, argv=self.argv, metadata=self.metadata(**more), options=options)

    def cell(self, dataset: str, label: str, metric: str, ours, paper_key=None, **extra) -> dict:
        """:func:`cell` of this run's experiment and preset."""
        return cell(self.experiment, self.preset.label, dataset, label, metric, ours, paper_key, **extra)

    def finish(self, cells: Sequence[dict], summary: str) -> None:
        """``cells.json`` and ``summary.md`` in the output folder; the summary is logged too."""
        results_io.claim_output_folder(self.out)
        write_cells(self.out, cells)
        results_io.atomic_write_text(os.path.join(self.out, "summary.md"), summary)
        self.log(summary)
