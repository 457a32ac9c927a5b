"""deep-sparse: deep sparse rectifier networks (Glorot, Bordes & Bengio, AISTATS 2011) in JAX.

One module per idea of the paper: :mod:`activations`, :mod:`mlp`, :mod:`sparsity`, :mod:`dae`,
:mod:`reparam`, :mod:`ratings`, :mod:`nn` (Flax wrapper), :mod:`data`, :mod:`train`, :mod:`sweep`.
Submodules are imported on first use (``ds.train``), so ``import deep_sparse`` stays cheap.
"""
import importlib as _importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "activations", "mlp", "sparsity", "dae", "reparam", "ratings", "nn",
    "data", "config", "train", "sweep", "experiment", "planner", "executor", "store", "distributed", "devices", "checkpoints",
    "results_io", "plots", "selection", "runtime", "names",
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
