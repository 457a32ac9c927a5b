"""deep-sparse: deep sparse rectifier networks (Glorot, Bordes & Bengio, AISTATS 2011) in JAX.

One module per idea of the paper: :mod:`activations`, :mod:`mlp`, :mod:`sparsity`, :mod:`corruption`,
:mod:`dae`, :mod:`reparam`, :mod:`ratings`, :mod:`nn` (Flax linen and NNX modules), :mod:`data`, :mod:`train`,
:mod:`sweep`. Submodules are imported on first use (``ds.train``), so ``import deep_sparse`` stays cheap.

From other JAX code::

    import deep_sparse as ds
    data = ds.train.Data.from_arrays(x_train, y_train, x_valid, y_valid, x_test, y_test)   # NumPy or JAX
    train = ds.train.make_train(ds.config.TrainConfig(hidden_sizes=(1000, 1000, 1000)))
    result = jax.jit(train)(key, ds.config.Hparams(lr=0.01, l1=1e-3), data)              # one network
    grid = ds.config.Hparams.grid(lr=[0.1, 0.01, 0.001, 0.0001], l1=[0.0, 1e-3])          # 8 networks
    results = jax.jit(train.vmap())(jax.random.split(key, 8), grid, data)

:func:`deep_sparse.train.make_train` takes any optax optimizer for fine-tuning
(:mod:`deep_sparse.optimizers`); ``examples/`` holds three short worked examples.
"""
import importlib as _importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "activations", "mlp", "sparsity", "corruption", "dae", "reparam", "ratings", "nn",
    "data", "config", "inputs", "optimizers", "train", "sweep", "presets", "experiment", "planner", "executor",
    "buckets", "progress", "store",
    "distributed", "devices", "checkpoints", "results_io", "results", "metrics_log", "plots", "selection", "runtime",
    "names", "hparam_rules",
)
__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        module = _importlib.import_module(f"deep_sparse.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'deep_sparse' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
