"""The API reference builds from the docstrings (pdoc), its cross-references resolve, and the worked
examples in examples/ run."""
import importlib
import inspect
import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# the modules a user calling the library from JAX code reads
PUBLIC = ("activations", "mlp", "sparsity", "corruption", "dae", "reparam", "ratings", "config", "inputs", "optimizers",
          "train", "nn")
ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj):`~?([^`<]+?)`")
# pdoc cannot evaluate some string annotations (those of the __init__ a NamedTuple generates live in a
# namespace of their own; optax.OptState names a type optax imports only for type checkers): a limit
# of the tool, never a docstring's fault
KNOWN_WARNING = re.compile(r"Error parsing type annotation .* Import of \w+ failed")


def test_the_api_reference_builds_without_warnings(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pdoc", "deep_sparse", "-o", str(tmp_path), "--docformat",
                           "restructuredtext"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    warnings = [line for line in (done.stdout + done.stderr).splitlines()
                if line.startswith("Warn") and not KNOWN_WARNING.search(line)]
    assert not warnings, "\n".join(warnings)
    for module in PUBLIC:
        assert (tmp_path / "deep_sparse" / f"{module}.html").stat().st_size > 0


def _resolves(reference: str, module, owner) -> bool:
    name = reference.strip().removesuffix("()").lstrip(".")
    scopes = [f"{module.__name__}.{owner}"] if owner else []
    scopes += [module.__name__, module.__package__ or "", "deep_sparse", ""]
    for scope in scopes:
        parts = [part for part in f"{scope}.{name}".split(".") if part]
        for split in range(len(parts), 0, -1):
            try:
                found = importlib.import_module(".".join(parts[:split]))
            except ImportError:
                continue
            try:
                for part in parts[split:]:
                    found = getattr(found, part)
                return True
            except AttributeError:
                break
    return False


def _documented(module):
    """(object, owner class name) of the module and its public classes, functions and methods."""
    yield module, None
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value):
            yield value, None
        elif inspect.isclass(value):
            yield value, name
            for member_name, member in vars(value).items():
                if not member_name.startswith("_") or member_name == "__call__":
                    member = getattr(member, "__func__", member)
                    if inspect.isfunction(member) or isinstance(member, property):
                        yield member, name


@pytest.mark.parametrize("name", PUBLIC)
def test_public_docstrings_exist_and_their_references_resolve(name):
    module = importlib.import_module(f"deep_sparse.{name}")
    missing, broken = [], []
    for value, owner in _documented(module):
        label = f"{owner + '.' if owner and value is not getattr(module, owner, None) else ''}" \
                f"{getattr(value, '__name__', getattr(getattr(value, 'fget', None), '__name__', name))}"
        doc = inspect.getdoc(value)
        if not doc:
            missing.append(label)
            continue
        broken += [f"{label}: {reference}" for reference in ROLE.findall(doc) if not _resolves(reference, module, owner)]
    assert not missing, f"deep_sparse.{name}: public names without a docstring: {missing}"
    assert not broken, f"deep_sparse.{name}: references to nothing: {broken}"


def _example(name: str) -> dict:
    """The namespace of examples/<name>.py, whose main() is not run on loading."""
    return runpy.run_path(str(ROOT / "examples" / f"{name}.py"), run_name="example")


def test_example_train_one_network_from_numpy():
    result, with_adam = _example("train_from_numpy")["main"]()
    assert float(result.test_error) < 0.3 and float(with_adam.test_error) < 0.3
    assert 0.0 < float(result.sparsity) < 1.0


def test_example_grid_of_8_networks():
    hparams, results = _example("grid_of_8")["main"]()
    assert hparams.stacked_size() == 8 and results.test_error.shape == (8,)
    assert sorted(set(zip(hparams.lr.tolist(), hparams.l1.tolist()))) == sorted(
        (np.float32(lr).item(), np.float32(l1).item()) for lr in (0.1, 0.03, 0.01, 0.003) for l1 in (0.0, 1e-2))
    assert np.all(np.isfinite(np.asarray(results.test_error)))
    assert float(np.min(results.test_error)) < 0.3


def test_example_pretrain_a_stack_then_finetune_it():
    stack, finetuned = _example("pretrain_then_finetune")["main"]()
    reconstruction = np.asarray(stack.curves.pretrain_valid_loss)
    assert reconstruction.shape == (2, 2) and np.all(reconstruction[:, 1] < reconstruction[:, 0])
    assert sorted(finetuned) == [0.01, 0.03, 0.1]
    assert all(float(result.test_error) < 0.3 for result in finetuned.values())
    # each fine-tuning run started from the one pre-trained stack: its first layer moved away from it
    first = {lr: np.asarray(result.params[0]["w"]) for lr, result in finetuned.items()}
    assert not np.array_equal(first[0.1], first[0.01])
