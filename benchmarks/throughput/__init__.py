"""The throughput benchmark (``python -m benchmarks.sweep_throughput``; its docstring says what is
measured, how, and the FLOP count), one module per concern:

* :mod:`.problem`: the benchmarked network, its synthetic data, its FLOPs, the methods' names;
* :mod:`.timing`: the clock every worker uses (one call timed per repetition, medians, GFLOP/s);
* :mod:`.jax_workers`, :mod:`.torch_workers`, :mod:`.ceilings`: one function per method, each
  timing the same fine-tuning epoch (or, for the ceilings, the machine's own limits);
* :mod:`.workers`: the registry of methods and the entry point of a worker process;
* :mod:`.spawn`: one fresh process per method and K (so that its peak memory is its own);
* :mod:`.report`: summary rows, ratios, the BENCHMARKS.md section and its update;
* :mod:`.plot`: throughput and epoch time against K;
* :mod:`.cli`: the command line, the measurement loop and the outputs.

Nothing is imported here: a worker process loads only its own framework.
"""
