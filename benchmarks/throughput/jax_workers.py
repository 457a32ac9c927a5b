"""The JAX methods. Each times the same fine-tuning epoch of each of K networks: ``Train.finetune``'s
epoch (``steps`` SGD steps on the network's own shuffle, then the validation pass, model selection and
the stopping rule), the function ``ds.sweep.run`` compiles. Per method:

* ``times``: seconds of each timed epoch of all K networks (``time.perf_counter`` around the epoch,
  results blocked on), after ``warmup`` untimed epochs that follow the compilation;
* ``compile_s``: seconds compiling the epoch (``eval_compile_s``: the validation pass alone);
* ``eval_s``: median seconds of the validation pass alone for all K networks, with the method's
  batching (its share of the epoch is the report's ``eval %``);
* ``xla_memory_bytes``: the peak XLA plans for one call of the compiled epoch; ``stopped``: whether a
  network stopped (diverged) during the timed epochs, which would make its later epochs free.

The engine uses only the engine's public functions, as ``ds.sweep.run`` does for one group.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.throughput.problem import BATCH, L1, LR, N_CLASSES, synthetic_splits
from benchmarks.throughput.timing import short_call_repeats, median_seconds, warm_then_time
from deep_sparse import evaluation
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.devices import auto_chunk_size, compiled_memory_bytes, make_mesh, resolve_batching
from deep_sparse.executor import ChunkExecutor, ChunkPolicy, fit_chunk_size
from deep_sparse.planner import Network, balanced_chunks
from deep_sparse.progress import Progress
from deep_sparse.train import Data, Stage, Train, Trainer, make_train, prepare_data


@dataclasses.dataclass(frozen=True)
class JaxProblem:
    """The run every JAX method times: its config, its :class:`Train`, the synthetic data, one
    network's hyperparameters, and the validation pass alone ``(state, hparams, data) -> metrics``."""

    config: TrainConfig
    train: Train
    data: Data
    hparams: Hparams
    validation_pass: Callable


def jax_problem(spec: dict) -> JaxProblem:
    """The fine-tuning run of ``spec``: no early stopping (``patience=None``) and one more epoch than
    are run (warm-up + repetitions), so that no network stops at its last epoch."""
    config = TrainConfig(
        dataset="synthetic", hidden_sizes=tuple(spec["hidden"]), activation="rectifier", batch_size=BATCH,
        epochs=spec["repeats"] + spec["warmup"] + 1, patience=None, num_classes=N_CLASSES,
        eval_batch_size=spec["valid"],
    )
    data = prepare_data(config, synthetic_splits(spec["steps"] * BATCH, spec["valid"]))
    trainer = Trainer(config)

    def validation_pass(state, hparams, data):
        return evaluation.evaluate(state.params, trainer.activation(hparams), data.x_valid, data.y_valid, config.task,
                                   config.eval_batch_size)

    return JaxProblem(config, make_train(config), data, Hparams(lr=LR, l1=L1), validation_pass)


def compile_timed(jitted, *args):
    """``(jitted compiled for args, seconds the compilation took)``."""
    start = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    return compiled, time.perf_counter() - start


def method_result(times, compile_s: float, eval_compile_s: float, eval_s: float, xla_memory_bytes,
                  stopped: bool) -> dict:
    """A JAX worker's result (see the module docstring)."""
    return {"times": [float(t) for t in times], "compile_s": compile_s, "eval_compile_s": eval_compile_s,
            "eval_s": eval_s, "xla_memory_bytes": xla_memory_bytes, "stopped": stopped}


# ----------------------------------------------------------------------------------------- loop
def time_loop(spec: dict) -> dict:
    """``jax.jit`` of one network's epoch, called K times from Python (one network per call)."""
    problem, k = jax_problem(spec), spec["k"]
    hparams, data = problem.hparams, problem.data
    init = jax.jit(problem.train.init)
    states = [init(jax.random.PRNGKey(i), hparams, data) for i in range(k)]
    epoch, compile_s = compile_timed(jax.jit(problem.train.finetune.epoch), states[0], hparams, data)
    evaluate, eval_compile_s = compile_timed(jax.jit(problem.validation_pass), states[0], hparams, data)

    def one_epoch():
        for i in range(k):
            states[i] = epoch(states[i], hparams, data)
        jax.block_until_ready(states)

    times = warm_then_time(one_epoch, spec["warmup"], spec["repeats"])
    eval_s = median_seconds(lambda: jax.block_until_ready([evaluate(s, hparams, data) for s in states]),
                            short_call_repeats(spec["repeats"]))
    return method_result(times, compile_s, eval_compile_s, eval_s, compiled_memory_bytes(epoch),
                         any(bool(s.stopped) for s in states))


# ----------------------------------------------------------------------------------------- vmap
def time_vmap(spec: dict) -> dict:
    """One ``jit(vmap(epoch))`` over all K networks, called once per epoch."""
    problem, k = jax_problem(spec), spec["k"]
    data = problem.data
    keys = jax.random.split(jax.random.PRNGKey(0), k)
    hparams = Hparams(*(jnp.full((k,), value, jnp.float32) for value in problem.hparams))
    over_networks = dict(in_axes=(0, 0, None))
    state = jax.jit(jax.vmap(problem.train.init, **over_networks))(keys, hparams, data)
    epoch, compile_s = compile_timed(jax.jit(jax.vmap(problem.train.finetune.epoch, **over_networks)),
                                     state, hparams, data)
    evaluate, eval_compile_s = compile_timed(jax.jit(jax.vmap(problem.validation_pass, **over_networks)),
                                             state, hparams, data)
    box = [state]

    def one_epoch():
        box[0] = jax.block_until_ready(epoch(box[0], hparams, data))

    times = warm_then_time(one_epoch, spec["warmup"], spec["repeats"])
    eval_s = median_seconds(lambda: jax.block_until_ready(evaluate(box[0], hparams, data)),
                            short_call_repeats(spec["repeats"]))
    return method_result(times, compile_s, eval_compile_s, eval_s, compiled_memory_bytes(epoch),
                         bool(np.any(np.asarray(box[0].stopped))))


# ----------------------------------------------------------------------------------------- engine
class EpochEnds(Progress):
    """The engine's progress report used as a clock: when each epoch of a chunk ended. The engine
    reports every epoch (``advance``), a trained one then with its summary (``epoch``): an epoch ends
    after its summary, or at its stop check when every network of the chunk has stopped."""

    def __init__(self):
        super().__init__(total=0, mode=False, log=lambda _: None)
        self.ends: list[float] = []

    def advance(self, network_epochs: int) -> None:
        if network_epochs:  # 0: the report of resumed epochs before the first
            self.ends.append(time.perf_counter())

    def epoch(self, summary: str) -> None:
        self.ends[-1] = time.perf_counter()


def engine_chunks(executor: ChunkExecutor, k: int, hparams: Hparams) -> tuple[list[list[Network]], int]:
    """``(chunks, chunk size)`` of a group of ``k`` networks, as ``ds.sweep.run`` makes them: the
    automatic chunk size, fitted to memory (which compiles the epoch and reads XLA's plan), then as
    few balanced chunks as that allows, padded to a multiple of the devices."""
    networks = [Network(index=i, seed=i, hparams=hparams) for i in range(k)]
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    size = fit_chunk_size(executor, networks, auto_chunk_size(k, executor.mesh), True, log)
    chunks = balanced_chunks(networks, size, executor.n_devices)
    return chunks, len(chunks[0]) + (-len(chunks[0]) % executor.n_devices)


def train_chunk(executor: ChunkExecutor, chunk: list[Network], size: int, stage: Stage):
    """``(seconds of each epoch, final state)`` of one chunk trained from fresh networks through
    ``stage`` by the engine's own loop (``run_stages``: before each epoch the check that a network
    still runs, after it the epoch's summary; no checkpoints)."""
    state = jax.block_until_ready(executor.initial_state(chunk, size))
    clock = EpochEnds()
    start = time.perf_counter()
    state = executor.run_stages(state, chunk, size, (stage,), label="benchmark", checkpoint=None,
                                policy=ChunkPolicy(checkpoint_every=0), progress=clock)
    return np.diff([start, *clock.ends]).tolist(), state


def time_engine_validation(executor: ChunkExecutor, problem: JaxProblem, state, chunk, size: int,
                           repeats: int) -> tuple[float, float]:
    """``(compile seconds, median seconds)`` of the validation pass alone on one chunk, compiled by the
    executor (the engine's batching and sharding)."""
    _, hparams = executor.shard(chunk, size)
    before = executor.compile_seconds
    evaluate = executor.compiled("validation_pass", problem.validation_pass, state, hparams, executor.data)
    compile_s = executor.compile_seconds - before
    seconds = median_seconds(lambda: jax.block_until_ready(evaluate(state, hparams, executor.data)),
                             short_call_repeats(repeats))
    return compile_s, seconds


def time_engine(spec: dict) -> dict:
    """What ``ds.sweep.run`` does for one group of K networks (``deep_sparse.executor.ChunkExecutor``
    on every device, the batching ``"auto"`` chooses: ``lax.map`` on CPU, ``vmap`` on accelerators):
    automatic chunk size, chunks one after the other, each through all of its epochs in the engine's
    loop. An epoch's time is the sum over chunks of that epoch's time; each chunk has its own warm-up
    epochs. ``compile_s`` is every compilation of the epoch before training (the fit to memory
    included); ``xla_memory_bytes`` the engine's plan (state donated)."""
    problem = jax_problem(spec)
    mesh = make_mesh()
    executor = ChunkExecutor(problem.train, problem.data, mesh, resolve_batching("auto", mesh))
    chunks, size = engine_chunks(executor, spec["k"], problem.hparams)
    xla_memory_bytes = executor.memory_bytes(chunks[0], size)  # compiles the epoch for the chunk size used
    compile_s = executor.compile_seconds
    finetune = problem.train.finetune
    stage = Stage(finetune.name, spec["warmup"] + spec["repeats"], finetune.epoch)
    per_repeat, stopped = np.zeros(spec["repeats"]), False
    for chunk in chunks:
        seconds, state = train_chunk(executor, chunk, size, stage)
        per_repeat += seconds[spec["warmup"]:]
        stopped = stopped or bool(np.any(np.asarray(state.stopped)[: len(chunk)]))
    eval_compile_s, eval_s = time_engine_validation(executor, problem, state, chunks[-1], size, spec["repeats"])
    result = method_result(per_repeat, compile_s, eval_compile_s, eval_s * len(chunks), xla_memory_bytes, stopped)
    return dict(result, chunk_size=size, n_chunks=len(chunks), batching=executor.batching)
