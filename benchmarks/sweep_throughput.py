"""Throughput of K small networks trained side by side: the sweep engine against a plain loop, a naive
``jax.vmap``, PyTorch, and the machine's own ceilings, all measured in one run (issue 6).

    python -m benchmarks.sweep_throughput            # K in {1, 8, 32, 200}, 200 steps per epoch
    python -m benchmarks.sweep_throughput --quick    # K in {1, 8, 32}, 50 steps per epoch
    python -m benchmarks.sweep_throughput --k 1 8 --steps 100 --repeats 5 --no-torch --out /tmp/bench

What is timed: one fine-tuning epoch of the paper's network 784-1000-1000-1000-10 (rectifier, L1 on
the activations, SGD on mini-batches of 10) for each of K networks, on synthetic inputs of MNIST's shape:
``steps`` SGD steps (n_train = 10 * steps examples, each network with its own shuffle) followed by the
evaluation on a small validation set (``--valid``, 100 examples by default), exactly the epoch of
``make_train(config).finetune`` that ``ds.sweep.run`` compiles. Each method times every epoch of all K
networks with ``time.perf_counter`` (results blocked on), ``--repeats`` epochs after ``--warmup`` untimed
ones; the median counts. The evaluation's share of the epoch is timed separately (same batching as the
method) and reported as ``eval %``.

Methods (each in its own subprocess, so that its peak resident memory is its own):

* ``engine``: what ``ds.sweep.run`` does for one group, through the engine's public functions only:
  ``make_mesh``, the batching ``"auto"`` chooses (``lax.map`` on CPU, ``vmap`` on accelerators), a
  ``deep_sparse.executor.ChunkExecutor``, the automatic chunk size (``auto_chunk_size`` fitted to XLA's
  memory plan by ``fit_chunk_size``) and ``balanced_chunks``; chunks one after the other, each from
  ``initial_state`` through all of its epochs in the engine's own loop (``run_stages``: before each epoch
  the check that a network still runs, after it the epoch's summary; no checkpoints);
* ``loop``: ``jax.jit`` of one network's epoch called K times from Python (one network per call);
* ``vmap``: ``jax.jit(jax.vmap(epoch))`` over all K networks in one call;
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

The code is the package :mod:`benchmarks.throughput`, one module per concern (its docstring lists them);
this module is its entry point.
"""
from benchmarks.throughput.cli import main

if __name__ == "__main__":
    main()
