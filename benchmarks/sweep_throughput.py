"""Throughput of K small networks trained side by side: the sweep engine against a plain loop, a naive
``jax.vmap``, PyTorch, and the machine's own ceilings, all measured in one run (issue 6).

    python -m benchmarks.sweep_throughput            # K in {1, 8, 32, 200}, 200 steps per epoch
    python -m benchmarks.sweep_throughput --quick    # K in {1, 8, 32}, 50 steps per epoch
    python -m benchmarks.sweep_throughput --k 1 8 --steps 100 --repeats 5 --no-torch --out /tmp/bench

What is timed: one fine-tuning epoch of the paper's network 784-1000-1000-1000-10 (rectifier, L1 on
the activations, SGD on mini-batches of 10) for each of K networks, on synthetic inputs of MNIST's shape:
``steps`` SGD steps (n_train = 10 * steps examples, each network with its own shuffle) followed by the
evaluation on a small validation set (``--valid``, 100 examples by default), exactly the
``Trainer.finetune_epoch`` that ``ds.sweep.run`` compiles. The evaluation's share of the epoch is timed
separately (same batching as the method) and reported as ``eval %``.

Methods (each in its own subprocess, so that its peak resident memory is its own):

* ``engine``: ``deep_sparse.sweep``'s machinery as ``ds.sweep.run`` uses it: ``auto_chunk_size``,
  ``_GroupRunner.compiled`` (``jit(vmap(finetune_epoch, in_axes=(0, 0, None)))``), chunks run one after
  the other, each chunk's epoch preceded by the engine's ``bool(jnp.all(state.stopped))`` check;
* ``loop``: ``jax.jit(trainer.finetune_epoch)`` called K times from Python (one network per call);
* ``vmap``: ``jax.jit(jax.vmap(trainer.finetune_epoch))`` over all K networks in one call;
* ``torch_eager``: PyTorch, ``nn.Sequential`` + ``torch.optim.SGD``, a Python loop over networks and
  mini-batches, as its users write it (``torch.set_num_threads(os.cpu_count())``);
* ``torch_func``: ``torch.func`` ensembling: ``stack_module_state`` + ``functional_call`` + ``vmap``
  of ``grad_and_value`` over the K networks, SGD applied to the stacked parameters;
* ``ceilings``: fp32 GFLOP/s of a large square matrix product (JAX and NumPy), of the step's own
  matrix products, and the bandwidth of a large copy.

FLOPs per SGD step of one network (matrix products and the update; the elementwise work of biases,
rectifiers, L1 and softmax is O(B * units), under 1% here, and not counted). With mini-batch B and
layer sizes n_0..n_L::

    forward           2 B sum_l n_{l-1} n_l
    weight gradients  2 B sum_l n_{l-1} n_l
    input gradients   2 B sum_{l>=2} n_{l-1} n_l      (none for the data: x needs no gradient)
    SGD update        2 P                             (p - lr * g; P = number of parameters)

784-1000-1000-1000-10, B = 10: 157.6 MFLOP per step. The validation pass adds 2 n_valid sum n_{l-1} n_l
per network and epoch; it is counted in the achieved GFLOP/s.

Outputs (under ``--out``, default the repository root): ``BENCHMARKS.md`` (one section per machine and
mode, sections of other machines kept), ``benchmarks/results/sweep_throughput_<machine>.json`` (raw
numbers) and ``benchmarks/results/throughput_vs_k.png`` (plus a copy named after the machine).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from typing import Optional, Sequence

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER_HIDDEN = (1000, 1000, 1000)
INPUT_DIM, N_CLASSES, BATCH = 784, 10, 10
LR, L1 = 0.01, 0.001
JAX_METHODS = ("engine", "loop", "vmap")
TORCH_METHODS = ("torch_eager", "torch_func")
LABELS = {
    "engine": "sweep engine",
    "loop": "plain JAX loop",
    "vmap": "naive jax.vmap",
    "torch_eager": "PyTorch eager loop",
    "torch_func": "torch.func vmap",
}


# ----------------------------------------------------------------------------------------- FLOPs
def layer_sizes(hidden: Sequence[int]) -> tuple[int, ...]:
    return (INPUT_DIM, *hidden, N_CLASSES)


def flops_per_step(sizes: Sequence[int], batch: int = BATCH) -> int:
    """Forward + backward + SGD update FLOPs of one mini-batch step (see the module docstring)."""
    products = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    n_params = sum(products) + sum(sizes[1:])
    return 2 * batch * sum(products) * 2 + 2 * batch * sum(products[1:]) + 2 * n_params


def flops_per_eval(sizes: Sequence[int], n_examples: int) -> int:
    return 2 * n_examples * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


# ----------------------------------------------------------------------------------------- setup
def synthetic_splits(n_train: int, n_valid: int, seed: int = 0) -> dict:
    """Inputs of MNIST's shape and range ([0, 1], 784 wide), labels 0..9."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, n in (("train", n_train), ("valid", n_valid), ("test", n_valid)):
        splits[name] = (rng.random((n, INPUT_DIM), dtype=np.float32), rng.integers(0, N_CLASSES, n).astype(np.int32))
    return splits


def jax_setup(spec: dict):
    from deep_sparse.config import Hparams, TrainConfig
    from deep_sparse.train import make_train, prepare_data

    config = TrainConfig(
        dataset="synthetic", hidden_sizes=tuple(spec["hidden"]), activation="rectifier", batch_size=BATCH,
        epochs=spec["repeats"] + spec["warmup"] + 1, patience=None, num_classes=N_CLASSES,
        eval_batch_size=spec["valid"],
    )
    data = prepare_data(config, synthetic_splits(spec["steps"] * BATCH, spec["valid"]))
    return config, make_train(config), data, Hparams(lr=LR, l1=L1)


def _block(tree):
    import jax

    jax.block_until_ready(tree)
    return tree


def _stack_hparams(hparams, k: int):
    import jax.numpy as jnp

    return type(hparams)(*(jnp.full((k,), value, jnp.float32) for value in hparams))


def _eval_fn(trainer):
    return lambda state, h, d: trainer.evaluate(state.params, h, d.x_valid, d.y_valid)


def _time_calls(run, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


# ----------------------------------------------------------------------------------------- workers
def worker_engine(spec: dict) -> dict:
    """What ``ds.sweep.run`` does for one group: automatic chunk size, one compiled vmapped epoch per
    chunk, chunks run one after the other (each its epochs in turn), the ``stopped`` check per epoch."""
    import jax
    import jax.numpy as jnp

    from deep_sparse import sweep

    config, trainer, data, hparams = jax_setup(spec)
    k = spec["k"]
    mesh = sweep.make_mesh()
    size = sweep.auto_chunk_size(k, mesh)
    runner = sweep._GroupRunner(trainer, data, mesh)
    networks = [sweep.Network(i, i, hparams) for i in range(k)]
    chunks = [networks[i : i + size] for i in range(0, k, size)]
    keys, h = runner.shard(chunks[0], size)
    init = runner.compiled("init", lambda a, b, d: trainer.init(a, b, d), keys, h, runner.data)
    state = init(keys, h, runner.data)
    before = runner.compile_seconds
    epoch = runner.compiled("finetune", trainer.finetune_epoch, state, h, runner.data)
    compile_s = runner.compile_seconds - before
    start = time.perf_counter()
    evaluate = jax.jit(jax.vmap(_eval_fn(trainer), in_axes=(0, 0, None))).lower(state, h, runner.data).compile()
    eval_compile_s = time.perf_counter() - start
    per_rep = np.zeros(spec["repeats"])
    for chunk in chunks:  # the engine's order: a chunk runs all of its epochs, then the next chunk
        keys, h = runner.shard(chunk, size)
        state = _block(init(keys, h, runner.data))
        for rep in range(spec["warmup"] + spec["repeats"]):
            start = time.perf_counter()
            if not bool(jnp.all(state.stopped)):
                state = _block(epoch(state, h, runner.data))
            if rep >= spec["warmup"]:
                per_rep[rep - spec["warmup"]] += time.perf_counter() - start
    eval_times = _time_calls(lambda: _block(evaluate(state, h, runner.data)), max(3, spec["repeats"]))
    return {
        "times": per_rep.tolist(), "compile_s": compile_s, "eval_compile_s": eval_compile_s,
        "eval_s": statistics.median(eval_times) * len(chunks), "chunk_size": size, "n_chunks": len(chunks),
        "xla_memory_bytes": sweep.compiled_memory_bytes(epoch),
        "stopped": bool(jnp.any(state.stopped)),
    }


def worker_loop(spec: dict) -> dict:
    """The same jitted single-network epoch, called K times from Python."""
    import jax

    from deep_sparse import sweep

    config, trainer, data, hparams = jax_setup(spec)
    k = spec["k"]
    init = jax.jit(trainer.init)
    states = [init(jax.random.PRNGKey(i), hparams, data) for i in range(k)]
    start = time.perf_counter()
    epoch = jax.jit(trainer.finetune_epoch).lower(states[0], hparams, data).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    evaluate = jax.jit(_eval_fn(trainer)).lower(states[0], hparams, data).compile()
    eval_compile_s = time.perf_counter() - start

    def one_epoch():
        for i in range(k):
            states[i] = epoch(states[i], hparams, data)
        _block(states)

    for _ in range(spec["warmup"]):
        one_epoch()
    times = _time_calls(one_epoch, spec["repeats"])
    eval_times = _time_calls(lambda: _block([evaluate(s, hparams, data) for s in states]), max(3, spec["repeats"]))
    return {
        "times": times, "compile_s": compile_s, "eval_compile_s": eval_compile_s,
        "eval_s": statistics.median(eval_times), "xla_memory_bytes": sweep.compiled_memory_bytes(epoch),
        "stopped": any(bool(s.stopped) for s in states),
    }


def worker_vmap(spec: dict) -> dict:
    """One ``jit(vmap(finetune_epoch))`` over all K networks."""
    import jax

    from deep_sparse import sweep

    config, trainer, data, hparams = jax_setup(spec)
    k = spec["k"]
    keys = jax.random.split(jax.random.PRNGKey(0), k)
    h = _stack_hparams(hparams, k)
    state = jax.jit(jax.vmap(trainer.init, in_axes=(0, 0, None)))(keys, h, data)
    start = time.perf_counter()
    epoch = jax.jit(jax.vmap(trainer.finetune_epoch, in_axes=(0, 0, None))).lower(state, h, data).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    evaluate = jax.jit(jax.vmap(_eval_fn(trainer), in_axes=(0, 0, None))).lower(state, h, data).compile()
    eval_compile_s = time.perf_counter() - start
    box = [state]

    def one_epoch():
        box[0] = _block(epoch(box[0], h, data))

    for _ in range(spec["warmup"]):
        one_epoch()
    times = _time_calls(one_epoch, spec["repeats"])
    eval_times = _time_calls(lambda: _block(evaluate(box[0], h, data)), max(3, spec["repeats"]))
    return {
        "times": times, "compile_s": compile_s, "eval_compile_s": eval_compile_s,
        "eval_s": statistics.median(eval_times), "xla_memory_bytes": sweep.compiled_memory_bytes(epoch),
        "stopped": bool(np.any(np.asarray(box[0].stopped))),
    }


def _torch_data(spec: dict):
    import torch

    splits = synthetic_splits(spec["steps"] * BATCH, spec["valid"])
    (xt, yt), (xv, yv) = splits["train"], splits["valid"]
    return (torch.from_numpy(xt), torch.from_numpy(yt).long(), torch.from_numpy(xv), torch.from_numpy(yv).long())


def _torch_model(sizes):
    import torch
    from torch import nn

    layers = []
    for index, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(a, b)
        limit = float(np.sqrt(6.0 / (a + b)))
        with torch.no_grad():
            linear.weight.uniform_(-limit, limit)
            linear.bias.zero_()
        layers.append(linear)
        if index < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _torch_forward(model, x):
    """Logits and the hidden codes (for the L1 penalty), as a user of nn.Sequential would get them."""
    hidden = []
    for module in model:
        x = module(x)
        if module.__class__.__name__ == "ReLU":
            hidden.append(x)
    return x, hidden


def _torch_setup(spec: dict):
    """Threads, seed, data and K freshly initialised models, as both PyTorch methods start."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    sizes = layer_sizes(spec["hidden"])
    xt, yt, xv, yv = _torch_data(spec)
    k = spec["k"]
    return xt, yt, xv, yv, k, [_torch_model(sizes) for _ in range(k)]


def worker_torch_eager(spec: dict) -> dict:
    import torch
    import torch.nn.functional as F

    xt, yt, xv, yv, k, models = _torch_setup(spec)
    optimizers = [torch.optim.SGD(m.parameters(), lr=LR) for m in models]
    generators = [torch.Generator().manual_seed(i) for i in range(k)]
    n_batches = xt.shape[0] // BATCH

    def evaluate(model):
        with torch.no_grad():
            logits, hidden = _torch_forward(model, xv)
            return (logits.argmax(-1) != yv).float().mean().item(), [float((h == 0).float().mean()) for h in hidden]

    def one_epoch():
        for model, optimizer, generator in zip(models, optimizers, generators):
            order = torch.randperm(xt.shape[0], generator=generator)[: n_batches * BATCH].view(n_batches, BATCH)
            for indices in order:
                logits, hidden = _torch_forward(model, xt[indices])
                loss = F.cross_entropy(logits, yt[indices]) + L1 * sum(h.abs().sum(-1).mean() for h in hidden)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            evaluate(model)

    for _ in range(spec["warmup"]):
        one_epoch()
    times = _time_calls(one_epoch, spec["repeats"])
    eval_times = _time_calls(lambda: [evaluate(m) for m in models], max(3, spec["repeats"]))
    return {"times": times, "compile_s": 0.0, "eval_s": statistics.median(eval_times),
            "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__}


def worker_torch_func(spec: dict) -> dict:
    import torch
    import torch.nn.functional as F
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    xt, yt, xv, yv, k, models = _torch_setup(spec)
    sizes = layer_sizes(spec["hidden"])
    params, buffers = stack_module_state(models)
    params = {name: p.detach() for name, p in params.items()}
    base = _torch_model(sizes).to("meta")
    generator = torch.Generator().manual_seed(0)
    n_batches = xt.shape[0] // BATCH
    n_hidden = len(sizes) - 2

    def forward(p, b, x):
        hidden, h = [], x
        for layer in range(n_hidden + 1):
            h = functional_call(base[2 * layer], ({"weight": p[f"{2 * layer}.weight"], "bias": p[f"{2 * layer}.bias"]}, {}), (h,))
            if layer < n_hidden:
                h = torch.relu(h)
                hidden.append(h)
        return h, hidden

    def objective(p, b, x, y):
        logits, hidden = forward(p, b, x)
        return F.cross_entropy(logits, y) + L1 * sum(h.abs().sum(-1).mean() for h in hidden)

    step = vmap(grad_and_value(objective), in_dims=(0, 0, 0, 0))
    evaluate = vmap(lambda p, b: (forward(p, b, xv)[0].argmax(-1) != yv).float().mean(), in_dims=(0, 0))

    def one_epoch():
        orders = torch.stack([torch.randperm(xt.shape[0], generator=generator)[: n_batches * BATCH] for _ in range(k)])
        orders = orders.view(k, n_batches, BATCH)
        for s in range(n_batches):
            indices = orders[:, s]
            grads, _ = step(params, buffers, xt[indices], yt[indices])
            with torch.no_grad():
                for name in params:
                    params[name].sub_(LR * grads[name])
        with torch.no_grad():
            evaluate(params, buffers)

    for _ in range(spec["warmup"]):
        one_epoch()
    times = _time_calls(one_epoch, spec["repeats"])
    with torch.no_grad():
        eval_times = _time_calls(lambda: evaluate(params, buffers), max(3, spec["repeats"]))
    return {"times": times, "compile_s": 0.0, "eval_s": statistics.median(eval_times),
            "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__}


def _gflops(flops: float, seconds: Sequence[float]) -> float:
    return flops / statistics.median(seconds) / 1e9


def worker_ceilings(spec: dict) -> dict:
    """Matrix-product GFLOP/s (large square, and the step's own shapes) and copy bandwidth."""
    import jax
    import jax.numpy as jnp

    n = spec["square"]
    reps = max(3, spec["repeats"])
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    out = {"square_n": n}
    matmul = jax.jit(jnp.matmul)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    _block(matmul(ja, jb))
    out["jax_square_gflops"] = _gflops(2 * n**3, _time_calls(lambda: _block(matmul(ja, jb)), reps))
    np.matmul(a, b)
    out["numpy_square_gflops"] = _gflops(2 * n**3, _time_calls(lambda: np.matmul(a, b), reps))

    # The step's products, each repeated `inner` times inside one compiled loop (no dispatch cost);
    # `x + i` keeps XLA from hoisting the product out of the loop.
    sizes = layer_sizes(spec["hidden"])
    shapes = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.append((f"fwd {BATCH}x{fan_in} @ {fan_in}x{fan_out}", (BATCH, fan_in), (fan_in, fan_out)))
        shapes.append((f"dW {fan_in}x{BATCH} @ {BATCH}x{fan_out}", (fan_in, BATCH), (BATCH, fan_out)))
        if index:
            shapes.append((f"dx {BATCH}x{fan_out} @ {fan_out}x{fan_in}", (BATCH, fan_out), (fan_out, fan_in)))
    inner = spec["inner"]
    step_shapes = []
    for label, shape_a, shape_b in shapes:
        x, w = jnp.asarray(rng.random(shape_a, dtype=np.float32)), jnp.asarray(rng.random(shape_b, dtype=np.float32))

        @jax.jit
        def repeated(x, w):
            def body(i, acc):
                return acc + (x + i.astype(jnp.float32)) @ w
            return jax.lax.fori_loop(0, inner, body, jnp.zeros((x.shape[0], w.shape[1]), jnp.float32))

        _block(repeated(x, w))
        flops = 2 * shape_a[0] * shape_a[1] * shape_b[1] * inner
        xn, wn = np.asarray(x), np.asarray(w)
        step_shapes.append({
            "shape": label,
            "jax_gflops": _gflops(flops, _time_calls(lambda: _block(repeated(x, w)), reps)),
            "numpy_gflops": _gflops(flops, _time_calls(lambda: [xn @ wn for _ in range(inner)], reps)),
        })
    out["step_shapes"] = step_shapes
    big = np.ones(spec["copy_bytes"] // 4, np.float32)
    dst = np.empty_like(big)
    np.copyto(dst, big)
    out["copy_bytes"] = big.nbytes
    out["copy_gb_per_s"] = 2 * big.nbytes / statistics.median(_time_calls(lambda: np.copyto(dst, big), reps)) / 1e9
    out["peak_gflops"] = max(out["jax_square_gflops"], out["numpy_square_gflops"])
    return out


WORKERS = {
    "engine": worker_engine, "loop": worker_loop, "vmap": worker_vmap,
    "torch_eager": worker_torch_eager, "torch_func": worker_torch_func, "ceilings": worker_ceilings,
}


def run_worker(method: str, spec: dict) -> dict:
    start = time.perf_counter()
    result = WORKERS[method](spec)
    result["worker_wall_s"] = time.perf_counter() - start
    result["maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


def spawn(method: str, spec: dict, timeout: Optional[float], log) -> dict:
    """Run one worker in a fresh Python process; its JSON result is its last line of stdout."""
    command = [sys.executable, "-m", "benchmarks.sweep_throughput", "--worker", method, "--spec", json.dumps(spec)]
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"  {method} k={spec.get('k')}: timed out after {timeout} s")
        return {"error": f"timed out after {timeout} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        log(f"  {method} k={spec.get('k')}: failed ({' / '.join(tail)})")
        return {"error": " / ".join(tail) or f"exit status {done.returncode}"}
    result = json.loads(lines[-1])
    result["process_wall_s"] = time.perf_counter() - start
    return result


# ----------------------------------------------------------------------------------------- summary
def summarize(method: str, k: int, raw: dict, spec: dict, peak: Optional[float]) -> dict:
    row = {"method": method, "label": LABELS[method], "k": k}
    if "error" in raw:
        row["error"] = raw["error"]
        return row
    times = raw["times"]
    median = statistics.median(times)
    sizes = layer_sizes(spec["hidden"])
    network_steps = k * spec["steps"]
    flops = k * (spec["steps"] * flops_per_step(sizes) + flops_per_eval(sizes, spec["valid"]))
    row.update({
        "epoch_s_median": median,
        "epoch_s_min": min(times),
        "epoch_s_max": max(times),
        "spread_pct": 100 * (max(times) - min(times)) / median,
        "network_steps_per_s": network_steps / median,
        "gflops": flops / median / 1e9,
        "eval_pct": 100 * raw.get("eval_s", 0.0) / median,
        "compile_s": raw.get("compile_s"),
        "maxrss_mib": raw["maxrss_bytes"] / 2**20,
        "xla_memory_mib": raw["xla_memory_bytes"] / 2**20 if raw.get("xla_memory_bytes") else None,
        "chunk_size": raw.get("chunk_size"),
    })
    if peak:
        row["fraction_of_peak"] = row["gflops"] / peak
    return row


def step_shape_ceiling(step_shapes: Sequence[dict], sizes: Sequence[int], batch: int = BATCH) -> Optional[float]:
    """GFLOP/s of one SGD step if every one of its matrix products ran at the speed measured for its own
    shape and the update and elementwise work cost nothing: an upper bound for any method::

        ceiling = flops_per_step / sum_i (flops_i / gflops_i)

    ``step_shapes`` holds ``{"shape": "fwd 10x784 @ 784x1000", "jax_gflops": ...}`` as measured by the
    ``ceilings`` worker. None if a shape is missing or was not measured."""
    seconds = 0.0
    for entry in step_shapes:
        match = re.search(r"(\d+)x(\d+) @ (\d+)x(\d+)", entry["shape"])
        if match is None or not entry.get("jax_gflops"):
            return None
        m, k, _, n = map(int, match.groups())
        seconds += 2 * m * k * n / (entry["jax_gflops"] * 1e9)
    return flops_per_step(sizes, batch) / seconds / 1e9 if seconds else None


def add_ratios(rows: list[dict]) -> None:
    loop = {r["k"]: r["network_steps_per_s"] for r in rows if r["method"] == "loop" and "error" not in r}
    for row in rows:
        if "error" not in row and row["k"] in loop:
            row["vs_loop"] = row["network_steps_per_s"] / loop[row["k"]]


# ----------------------------------------------------------------------------------------- outputs
def machine_description(machine: dict) -> str:
    memory = f"{machine['memory_bytes'] / 2**30:.0f} GiB" if machine.get("memory_bytes") else "? GiB"
    devices = ", ".join(machine.get("device_kinds") or [])
    return f"{machine['cpu']}, {machine['cpu_count']} cores, {memory}, JAX {machine['jax_backend']} ({devices})"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


SECTION_START = "<!-- section: {} -->"
SECTION_END = "<!-- end section -->"
HEADER = """# Benchmarks

Regenerated by `python -m benchmarks.sweep_throughput` (see its docstring for what is measured and the
FLOP count). One section per machine and mode; a run replaces only its own section. Throughput is
network-steps per second (one SGD step of mini-batch 10 of one network; each epoch also evaluates a
small validation set, whose share of the time is `eval %`). `vs loop` is the ratio to the plain JAX loop
at the same K; `% peak` is achieved GFLOP/s over the best fp32 square matrix product measured in the same
run. Compile time is excluded from throughput and given separately. Times: median of the repetitions,
spread = (max - min) / median.
"""


def render_section(payload: dict) -> str:
    from deep_sparse import results_io

    meta, ceilings, spec = payload["provenance"], payload.get("ceilings", {}), payload["spec"]
    ceiling = (step_shape_ceiling(ceilings["step_shapes"], layer_sizes(spec["hidden"]))
               if ceilings and "error" not in ceilings else None)
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
    if payload.get("torch_version"):
        versions += f", torch {payload['torch_version']}"
    lines = [
        f"## {payload['section']}",
        "",
        f"- command: `{meta['command']}`",
        f"- date (UTC): {meta['date_utc']}",
        f"- machine: {payload['machine_description']}; {meta['machine']['platform']}",
        f"- versions: {versions}",
        f"- network {'-'.join(map(str, layer_sizes(spec['hidden'])))}, rectifier + L1 {L1}, SGD lr {LR}, "
        f"mini-batch {BATCH}, {spec['steps']} steps per epoch, {spec['valid']} validation examples, "
        f"{spec['repeats']} repetitions after {spec['warmup']} warm-up epoch(s); "
        f"{flops_per_step(layer_sizes(spec['hidden'])) / 1e6:.1f} MFLOP per step",
    ]
    if ceilings and "error" not in ceilings:
        lines.append(
            f"- ceilings: fp32 {ceilings['square_n']}^3 product {ceilings['jax_square_gflops']:.1f} GFLOP/s (JAX), "
            f"{ceilings['numpy_square_gflops']:.1f} GFLOP/s (NumPy); copy bandwidth {ceilings['copy_gb_per_s']:.1f} GB/s "
            f"({ceilings['copy_bytes'] / 2**20:.0f} MiB, read + write); peak used: {ceilings['peak_gflops']:.1f} GFLOP/s"
        )
        if ceiling:
            lines.append(
                f"- step-shape ceiling: {ceiling:.1f} GFLOP/s ({100 * ceiling / ceilings['peak_gflops']:.0f}% of the "
                "peak used): the step's own products, each at the JAX speed measured below for its shape, with the "
                "update and elementwise work counted free; `% ceiling` is achieved GFLOP/s over it")
        lines += ["", "Step shapes (GFLOP/s):", ""]
        lines.append(results_io.format_table(ceilings["step_shapes"], ["shape", "jax_gflops", "numpy_gflops"],
                                             {"jax_gflops": ".1f", "numpy_gflops": ".1f"}).replace(
            "| shape | jax_gflops | numpy_gflops |", "| product | JAX GFLOP/s | NumPy GFLOP/s |", 1))
    rows = [dict(r, method=r["label"]) for r in payload["rows"]]
    for row in rows:
        if "fraction_of_peak" in row:
            row["% peak"] = 100 * row["fraction_of_peak"]
        if ceiling and "gflops" in row:
            row["% ceiling"] = 100 * row["gflops"] / ceiling
        if "error" in row:
            row["network_steps_per_s"] = None
            row["note"] = "failed: " + row["error"][:80]
    columns = ["k", "method", "network_steps_per_s", "vs_loop", "gflops", "% peak", "% ceiling", "epoch_s_median",
               "spread_pct", "eval_pct", "compile_s", "maxrss_mib", "xla_memory_mib"]
    if any("note" in r for r in rows):
        columns.append("note")
    formats = {"network_steps_per_s": ".1f", "vs_loop": ".2f", "gflops": ".1f", "% peak": ".1f", "% ceiling": ".0f",
               "epoch_s_median": ".3f", "spread_pct": ".0f", "eval_pct": ".1f", "compile_s": ".2f",
               "maxrss_mib": ".0f", "xla_memory_mib": ".0f"}
    table = results_io.format_table(rows, columns, formats)
    header, rest = table.split("\n", 1)
    titles = {"network_steps_per_s": "net-steps/s", "vs_loop": "vs loop", "gflops": "GFLOP/s",
              "epoch_s_median": "epoch s", "spread_pct": "spread %", "eval_pct": "eval %", "compile_s": "compile s",
              "maxrss_mib": "max RSS MiB", "xla_memory_mib": "XLA plan MiB"}
    header = "| " + " | ".join(titles.get(c, c) for c in columns) + " |"
    table = header + "\n" + rest
    lines += ["", table, "", f"Raw numbers: `{payload['json_name']}`; plot: `{payload['plot_name']}`."]
    if payload.get("notes"):
        lines += [""] + [f"- {note}" for note in payload["notes"]]
    return "\n".join(lines) + "\n"


def update_markdown(path: str, key: str, section: str) -> None:
    """Replace (or append) the section keyed ``key`` in ``path``, keeping every other section."""
    from deep_sparse import results_io

    text = open(path, encoding="utf-8").read() if os.path.exists(path) else HEADER
    start_marker = SECTION_START.format(key)
    block = f"{start_marker}\n{section}{SECTION_END}\n"
    pattern = re.compile(re.escape(start_marker) + r"\n.*?" + re.escape(SECTION_END) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    results_io.atomic_write_text(path, text)


def plot(rows: list[dict], path: str, title: str) -> None:
    from deep_sparse.plots import _pyplot, _save

    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for method in [m for m in LABELS if any(r["method"] == m for r in rows)]:
        points = sorted((r["k"], r) for r in rows if r["method"] == method and "error" not in r)
        if not points:
            continue
        ks = [k for k, _ in points]
        left.plot(ks, [r["network_steps_per_s"] for _, r in points], marker="o", label=LABELS[method])
        right.plot(ks, [r["epoch_s_median"] for _, r in points], marker="o", label=LABELS[method])
    for axes in (left, right):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("K (networks)")
        axes.grid(True, which="both", alpha=0.3)
    left.set_ylabel("network-steps per second")
    right.set_ylabel("seconds per epoch of all K networks")
    left.legend(fontsize=8)
    figure.suptitle(title, fontsize=9)
    _save(figure, path)
    plt.close(figure)


# ----------------------------------------------------------------------------------------- main
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep_throughput", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="K in {1, 8, 32}, 50 steps, 3 repetitions")
    parser.add_argument("--tiny", action="store_true", help="tiny layers and few steps (for the test suite only)")
    parser.add_argument("--k", type=int, nargs="+", help="numbers of networks (default 1 8 32 200; --quick: 1 8 32)")
    parser.add_argument("--steps", type=int, help="SGD steps per epoch (n_train = 10 * steps; default 200, --quick 50)")
    parser.add_argument("--valid", type=int, help="validation examples evaluated per epoch (default 100)")
    parser.add_argument("--repeats", type=int, help="timed epochs per method and K (default 5, --quick 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs after compilation (default 1)")
    parser.add_argument("--methods", nargs="+", choices=list(JAX_METHODS + TORCH_METHODS),
                        help="methods to run (default: all)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch methods")
    parser.add_argument("--out", default=REPO, help="root of the outputs (default: the repository root)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per method and K")
    parser.add_argument("--render", metavar="JSON",
                        help="measure nothing: rewrite the BENCHMARKS.md section (under --out) of a raw-numbers file "
                             "written by an earlier run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def build_spec(args: argparse.Namespace) -> dict:
    if args.tiny:
        spec = {"hidden": [32, 32], "steps": 4, "valid": 20, "repeats": 2, "square": 128,
                "inner": 4, "copy_bytes": 4 << 20, "ks": [1, 2]}
    elif args.quick:
        spec = {"hidden": list(PAPER_HIDDEN), "steps": 50, "valid": 100, "repeats": 3, "square": 2048,
                "inner": 50, "copy_bytes": 256 << 20, "ks": [1, 8, 32]}
    else:
        spec = {"hidden": list(PAPER_HIDDEN), "steps": 200, "valid": 100, "repeats": 5, "square": 2048,
                "inner": 200, "copy_bytes": 512 << 20, "ks": [1, 8, 32, 200]}
    for name in ("steps", "valid", "repeats"):
        if getattr(args, name) is not None:
            spec[name] = getattr(args, name)
    if args.k:
        spec["ks"] = sorted(set(args.k))
    spec["warmup"] = args.warmup
    for name in ("steps", "valid", "repeats"):
        if spec[name] < 1:
            raise SystemExit(f"--{name} must be >= 1")
    if any(k < 1 for k in spec["ks"]):
        raise SystemExit("--k values must be >= 1")
    return spec


def torch_available() -> Optional[str]:
    try:
        import importlib.metadata as metadata

        return metadata.version("torch")
    except Exception:  # noqa: BLE001
        return None


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        result = run_worker(args.worker, json.loads(args.spec))
        print(json.dumps(result), flush=True)
        return result

    from deep_sparse import results_io

    if args.render:
        payload = results_io.read_json(args.render)
        update_markdown(os.path.join(args.out, "BENCHMARKS.md"), payload["section"], render_section(payload))
        return payload
    argv = list(sys.argv[1:] if argv is None else argv)
    spec = build_spec(args)
    mode = "tiny" if args.tiny else ("quick" if args.quick else "full")
    methods = list(args.methods or JAX_METHODS + TORCH_METHODS)
    notes = []
    torch_version = torch_available()
    if args.no_torch or torch_version is None:
        if torch_version is None and not args.no_torch:
            notes.append("PyTorch is not installed: its methods were not run (pip install torch, CPU build).")
        methods = [m for m in methods if m not in TORCH_METHODS]
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731

    meta = results_io.provenance(["-m", "benchmarks.sweep_throughput", *argv])
    description = machine_description(meta["machine"])
    log(f"machine: {description}")
    log(f"spec: {spec}; methods: {methods}")
    ceilings = spawn("ceilings", dict(spec, k=None), args.timeout, log)
    peak = ceilings.get("peak_gflops")
    if peak:
        log(f"ceilings: square {ceilings['jax_square_gflops']:.1f} (JAX) / {ceilings['numpy_square_gflops']:.1f} "
            f"(NumPy) GFLOP/s, copy {ceilings['copy_gb_per_s']:.1f} GB/s")
    raw, rows = [], []
    for k in spec["ks"]:
        for method in methods:
            result = spawn(method, dict(spec, k=k), args.timeout, log)
            raw.append({"method": method, "k": k, **result})
            row = summarize(method, k, result, spec, peak)
            rows.append(row)
            if "error" not in row:
                log(f"  k={k:4d} {method:12s} {row['network_steps_per_s']:9.1f} net-steps/s  {row['gflops']:7.1f} GFLOP/s "
                    f"epoch {row['epoch_s_median']:.3f} s (spread {row['spread_pct']:.0f}%), compile {row['compile_s']:.1f} s, "
                    f"eval {row['eval_pct']:.1f}%, RSS {row['maxrss_mib']:.0f} MiB")
    add_ratios(rows)
    results_dir = os.path.join(args.out, "benchmarks", "results")
    machine_slug = slug(description)
    json_name = f"benchmarks/results/sweep_throughput_{machine_slug}_{mode}.json"
    plot_name = "benchmarks/results/throughput_vs_k.png"
    section = f"{description} — {mode}"
    payload = {
        "section": section, "machine_description": description, "mode": mode, "spec": spec,
        "flops_per_step": flops_per_step(layer_sizes(spec["hidden"])), "provenance": meta,
        "torch_version": torch_version if any(m in TORCH_METHODS for m in methods) else None,
        "ceilings": ceilings, "rows": rows, "raw": raw, "notes": notes,
        "json_name": json_name, "plot_name": plot_name,
    }
    os.makedirs(results_dir, exist_ok=True)
    results_io.atomic_write_json(os.path.join(args.out, json_name), payload)
    title = f"{section}\n{'-'.join(map(str, layer_sizes(spec['hidden'])))}, mini-batch {BATCH}, {spec['steps']} steps"
    plot(rows, os.path.join(args.out, plot_name), title)
    plot(rows, os.path.join(results_dir, f"throughput_vs_k_{machine_slug}_{mode}.png"), title)
    update_markdown(os.path.join(args.out, "BENCHMARKS.md"), section, render_section(payload))
    log(f"wrote {os.path.join(args.out, 'BENCHMARKS.md')}, {json_name}, {plot_name}")
    return payload


if __name__ == "__main__":
    main()
