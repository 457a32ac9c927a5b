"""What a run trains on: :class:`Data`, built from NumPy or JAX arrays, and checked where it is built.

    data = Data.from_arrays(x_train, y_train, x_valid, y_valid, x_test, y_test)
    result = make_train(config)(key, hparams, data)          # or jax.jit(make_train(config))(...)

:meth:`Data.from_arrays` is the constructor for arrays of your own: it converts inputs to float32 and
labels to int32 device arrays, checks shapes, dtypes and the label range, and reads the number of
classes from the labels, so that the data also runs under ``jax.jit`` (where labels can no longer be
read). :func:`prepare_data` does the same for the ``{"train": (x, y), ...}`` splits of
:mod:`deep_sparse.data`, after the subsets a :class:`~deep_sparse.config.TrainConfig` asks for;
:func:`load_data` loads a named data set and prepares it. Everything here runs in Python on concrete
arrays, before anything is traced; the training math never checks its inputs.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from deep_sparse import data as data_lib
from deep_sparse.config import TrainConfig

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Data:
    """The three splits as arrays (float32 inputs, int32 labels; ratings as classes 0..4), and the
    inputs of the unsupervised pre-training when they are not ``x_train`` (``x_pretrain``, None: they
    are): section 4.2 pre-trains on the labeled training reviews and 300,000 unlabeled ones, which
    fine-tuning and evaluation never see.

    Build it with :meth:`from_arrays` (checked, converted) or :func:`prepare_data`. ``num_classes`` (the
    softmax width when ``TrainConfig.num_classes`` is None) is static, not an array: it survives
    ``jax.jit`` and ``vmap``, where the labels can no longer be read. Left None, it is read from the
    labels when they are concrete arrays, here when the data is built."""

    x_train: Array
    y_train: Array
    x_valid: Array
    y_valid: Array
    x_test: Array
    y_test: Array
    x_pretrain: Optional[Array] = None
    num_classes: Optional[int] = None

    def __post_init__(self):
        # JAX rebuilds a Data from tracers or placeholders too: only concrete labels are read
        if self.num_classes is None:
            labels = (self.y_train, self.y_valid, self.y_test)
            if all(_is_concrete(y) for y in labels) and any(np.size(y) for y in labels):
                object.__setattr__(self, "num_classes", labels_span(*labels))

    @classmethod
    def from_arrays(cls, x_train, y_train, x_valid, y_valid, x_test, y_test, *, x_pretrain=None,
                    num_classes: Optional[int] = None) -> "Data":
        """Data from NumPy or JAX arrays: inputs ``x_*`` of shape ``(n, d)`` (any real dtype, stored as
        float32), labels ``y_*`` of shape ``(n,)`` (integers in ``[0, num_classes)``, stored as int32).

        ``num_classes`` None: 1 + the largest label of the three splits. Raises one ValueError naming
        the first argument that is wrong (shape, dtype, a label out of range)."""
        arrays = {"x_train": x_train, "y_train": y_train, "x_valid": x_valid, "y_valid": y_valid,
                  "x_test": x_test, "y_test": y_test}
        if x_pretrain is not None:
            arrays["x_pretrain"] = x_pretrain
        arrays = {name: _as_array(name, value) for name, value in arrays.items()}
        try:
            _check_shapes(arrays)
        except ValueError as error:
            raise ValueError(f"Data.from_arrays: {error}") from None
        arrays = {name: _converted(name, value) for name, value in arrays.items()}
        labels = [arrays[name] for name in ("y_train", "y_valid", "y_test")]
        if any(not _is_concrete(y) for y in labels):
            if num_classes is None:
                raise ValueError("Data.from_arrays: the labels are traced (inside jit or vmap), so the number of "
                                 "classes cannot be read from them; pass num_classes=")
        else:
            num_classes = _check_label_range(arrays, num_classes)
        return cls(**arrays, num_classes=num_classes)

    @property
    def pretrain_inputs(self) -> Array:
        """What pre-training trains on: ``x_pretrain``, or ``x_train`` when it is None."""
        return self.x_train if self.x_pretrain is None else self.x_pretrain

    def replace(self, **fields) -> "Data":
        """A copy with ``fields`` replaced."""
        return dataclasses.replace(self, **fields)


# Data's array fields, in order (what a data fingerprint hashes); the class count is static metadata.
# Listed explicitly for register_dataclass: jax infers them only after our minimum version 0.4.35.
DATA_STATIC = ("num_classes",)
DATA_ARRAYS = tuple(field.name for field in dataclasses.fields(Data) if field.name not in DATA_STATIC)
jax.tree_util.register_dataclass(Data, data_fields=DATA_ARRAYS, meta_fields=DATA_STATIC)


def _is_concrete(value) -> bool:
    """A NumPy array or a JAX array with values (not a tracer, nor a placeholder JAX put there)."""
    if isinstance(value, np.ndarray):
        return True
    return isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer) and value.is_fully_addressable


def _as_array(name: str, value):
    if isinstance(value, (jax.Array, np.ndarray)):
        return value
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Data.from_arrays: {name} is not an array ({type(value).__name__}): {error}") from None


def _check_inputs(name: str, x) -> None:
    if len(x.shape) != 2:
        raise ValueError(f"{name} must have shape (examples, features), got shape {tuple(x.shape)}")
    if not any(jnp.issubdtype(x.dtype, kind) for kind in (jnp.floating, jnp.integer, jnp.bool_)):
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")


def _check_labels(name: str, y) -> None:
    if len(y.shape) != 1:
        raise ValueError(f"{name} must be a vector of class labels, got shape {tuple(y.shape)}")
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype} (convert with "
                         f"y.astype(int) if its values are whole numbers)")


def _check_shapes(arrays: dict) -> None:
    """Every field's shape and dtype, then examples per split and features per input matrix agree."""
    for name, value in arrays.items():
        (_check_inputs if name.startswith("x") else _check_labels)(name, value)
    width = arrays["x_train"].shape[1]
    for split in ("train", "valid", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"x_{split} has {x.shape[0]} examples but y_{split} has {y.shape[0]} labels")
    for name in ("x_valid", "x_test", "x_pretrain"):
        if name in arrays and arrays[name].shape[1] != width:
            raise ValueError(f"{name} has {arrays[name].shape[1]} features, x_train has {width}")


def _converted(name: str, x):
    """``x`` as a float32 (inputs) or int32 (labels) JAX array."""
    dtype = np.float32 if name.startswith("x") else np.int32
    return x.astype(dtype) if isinstance(x, jax.Array) else jnp.asarray(np.asarray(x, dtype))


def _check_label_range(arrays: dict, num_classes: Optional[int]) -> int:
    """``num_classes`` (1 + the largest label when None), after checking every label lies in its range."""
    if num_classes is None:
        num_classes = labels_span(arrays["y_train"], arrays["y_valid"], arrays["y_test"])
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"Data.from_arrays: num_classes must be a positive integer, got {num_classes!r}")
    for name in ("y_train", "y_valid", "y_test"):
        y = np.asarray(arrays[name])
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"Data.from_arrays: {name} holds labels in [{y.min()}, {y.max()}], outside "
                             f"[0, {num_classes - 1}] for {num_classes} classes")
    return int(num_classes)


def check_arrays(data: Data) -> None:
    """The checks of :meth:`Data.from_arrays` that read only shapes and dtypes (so they also run on the
    tracers of a jitted run), for a Data built by hand: ValueError naming the field that is wrong."""
    arrays = {name: getattr(data, name) for name in DATA_ARRAYS if getattr(data, name) is not None}
    for name, value in arrays.items():
        if not hasattr(value, "shape") or not hasattr(value, "dtype"):
            raise ValueError(f"Data.{name} must be an array, got {type(value).__name__}")
    try:
        _check_shapes(arrays)
    except ValueError as error:
        raise ValueError(f"Data.{error}") from None


def as_device_arrays(data: Data) -> Data:
    """``data`` with NumPy leaves moved to the device (JAX arrays and tracers pass unchanged): a run
    indexes its inputs with traced mini-batch indices, which a NumPy array cannot take. A transfer,
    never a compiled program (``make_train(config, data)`` compiles nothing)."""
    if any(isinstance(leaf, np.ndarray) for leaf in jax.tree.leaves(data)):
        return jax.tree.map(jax.device_put, data)
    return data


def load_data(config: TrainConfig, data_dir: Optional[str] = None, download: bool = True) -> Data:
    """Load ``config.dataset`` with :func:`deep_sparse.data.load_splits` and :func:`prepare_data` it."""
    splits = data_lib.load_splits(config.dataset, data_dir=data_dir, download=download)
    return prepare_data(config, splits)


def prepare_data(config: TrainConfig, splits: dict) -> Data:
    """Turn ``{"train": (x, y), "valid": ..., "test": ...}`` NumPy splits into device arrays.

    Applies the ``*_size`` subsets (first n examples) and, when ``labeled_fraction < 1``, shuffles the
    training set once with ``labeled_seed`` so that its first ``n_labeled`` rows are a random labeled
    subset (the rest is used, unlabeled, by pre-training only); then :meth:`Data.from_arrays`.
    ``Data.num_classes`` is ``TrainConfig.num_classes``, or 1 + the largest label of the three splits.
    """
    arrays = []
    for split, size in (("train", config.train_size), ("valid", config.valid_size), ("test", config.test_size)):
        if split not in splits:
            raise ValueError(f"data has no {split!r} split; it has {sorted(splits)}")
        x, y = splits[split]
        x, y = np.asarray(x, np.float32), np.asarray(y, np.int32)
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise ValueError(f"{split} split: expected x of shape (n, d) and y of shape (n,), got {x.shape} and {y.shape}")
        if size is not None:
            if size > x.shape[0]:
                raise ValueError(f"TrainConfig.{split}_size={size} but the {split} split has {x.shape[0]} examples")
            x, y = x[:size], y[:size]
        if split == "train" and config.labeled_fraction < 1.0:
            order = np.random.default_rng(config.labeled_seed).permutation(x.shape[0])
            x, y = x[order], y[order]
        arrays += [x, y]
    return Data.from_arrays(*arrays, num_classes=config.num_classes)


def labels_span(*labels) -> int:
    """1 + the largest of the (concrete) ``labels``: the classes a softmax needs to score them all."""
    largest = [int(np.max(y)) for y in labels if np.size(y)]
    if not largest:
        raise ValueError("no labels to count the classes from: every split is empty; set TrainConfig.num_classes")
    return max(largest) + 1
