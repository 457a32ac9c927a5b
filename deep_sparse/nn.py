"""Thin Flax wrappers around :mod:`deep_sparse.mlp`: :class:`SparseMLP` for ``flax.linen`` and
:class:`SparseMLPNNX` for ``flax.nnx``, Flax's current API.

Both call ``(x)`` to return ``(logits, hidden)`` exactly as :func:`deep_sparse.mlp.apply` does; their
parameters are created by :func:`deep_sparse.mlp.init` (normalized uniform initialization, zero
biases) and laid out alike, ``{"layer_0": {"w": ..., "b": ...}, "layer_1": ...}`` (linen's ``params``
collection, NNX's ``nnx.state(model, nnx.Param)``). The pure functions remain the source of truth:
:func:`to_mlp_params` / :func:`from_mlp_params` convert between the two layouts, so that

    SparseMLP(sizes, act).apply({"params": p}, x) == mlp.apply(to_mlp_params(p), x, act)
    SparseMLPNNX.from_mlp_params(to_mlp_params(p), act)(x) == the same

Example::

    model = SparseMLP(layer_sizes=(784, 1000, 10), activation="rectifier")
    variables = model.init(key, x)
    logits, hidden = model.apply(variables, x)

    model = SparseMLPNNX((784, 1000, 10), "rectifier", rngs=nnx.Rngs(0))
    logits, hidden = model(x)
    result = make_train(config)(key, hparams, data)      # a trained network, in NNX
    model = SparseMLPNNX.from_mlp_params(result.params, config.activation)
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.linen as nn
from flax import nnx
import jax
import jax.numpy as jnp

from deep_sparse import activations as activations_lib
from deep_sparse import mlp as mlp_lib

Array = jax.Array


def _layer_name(index: int) -> str:
    return f"layer_{index}"


def from_mlp_params(params: list) -> dict:
    """``[{"w", "b"}, ...]`` (mlp layout) -> ``{"layer_0": {"w", "b"}, ...}`` (Flax ``params`` collection)."""
    return {_layer_name(index): {"w": layer["w"], "b": layer["b"]} for index, layer in enumerate(params)}


def to_mlp_params(flax_params: Mapping[str, Any]) -> list:
    """Flax ``params`` (or a full variables dict ``{"params": ...}``) -> mlp params list, layer 0 first.

    Raises ValueError if the layer names are not exactly ``layer_0 .. layer_{L-1}``.
    """
    if "params" in flax_params:
        flax_params = flax_params["params"]
    count = len(flax_params)
    expected = [_layer_name(index) for index in range(count)]
    if sorted(flax_params) != sorted(expected):
        raise ValueError(f"expected layers named {expected}, got {sorted(flax_params)}")
    return [{"w": flax_params[name]["w"], "b": flax_params[name]["b"]} for name in expected]


class SparseMLP(nn.Module):
    """MLP of :mod:`deep_sparse.mlp` as a Flax linen module (sections 3.1, 4.1).

    Attributes:
      layer_sizes: ``(n_in, hidden..., n_out)``.
      activation: hidden activation name (see :func:`deep_sparse.activations.names`).

    ``__call__(x, **activation_params)`` returns ``(logits, hidden)``; ``activation_params`` (e.g.
    ``alpha`` for ``scaled_softplus``) go to the activation. At ``init`` all layers are drawn at once
    by ``mlp.init(key, layer_sizes, activation)`` with one key from the ``"params"`` rng stream.
    """

    layer_sizes: Sequence[int]
    activation: str = "rectifier"

    @nn.compact
    def __call__(self, x: Array, **activation_params) -> tuple[Array, list[Array]]:
        sizes = mlp_lib.check_layer_sizes(self.layer_sizes)
        initial = None
        if self.is_initializing():
            initial = mlp_lib.init(self.make_rng("params"), sizes, self.activation)
        params = []
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            def init_layer(_key, i=index, shape=(fan_in, fan_out)):
                if initial is not None:  # init time: the layers mlp.init drew from one key
                    return dict(initial[i])
                # apply time: Flax only evaluates the initializer abstractly, to check shapes.
                return {"w": jnp.zeros(shape, jnp.float32), "b": jnp.zeros(shape[1:], jnp.float32)}

            params.append(self.param(_layer_name(index), init_layer))
        return mlp_lib.apply(params, x, self.activation, **activation_params)


class _Layer(nnx.Module):
    """One affine layer's parameters, ``w`` (n_in, n_out) and ``b`` (n_out,), as NNX ``Param``s."""

    def __init__(self, layer: Mapping[str, Any]):
        self.w = nnx.Param(jnp.asarray(layer["w"]))
        self.b = nnx.Param(jnp.asarray(layer["b"]))


class SparseMLPNNX(nnx.Module):
    """MLP of :mod:`deep_sparse.mlp` as a Flax NNX module (sections 3.1, 4.1): the parameters of
    :class:`SparseMLP`, as attributes ``layer_0 .. layer_{L-1}`` each holding ``w`` and ``b``.

    ``SparseMLPNNX(layer_sizes, activation, rngs=nnx.Rngs(seed))`` draws all layers at once with
    ``mlp.init(rngs.params(), layer_sizes, activation)``; :meth:`from_mlp_params` wraps given parameters
    (a trained ``Result.params``). ``model(x, **activation_params)`` returns ``(logits, hidden)``.
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str = "rectifier", *, rngs: nnx.Rngs,
                 params: list | None = None):
        sizes = mlp_lib.check_layer_sizes(tuple(layer_sizes))
        activations_lib.get(activation)  # fail early on an unknown name
        if params is not None and tuple(mlp_lib.layer_sizes_of(params)) != sizes:
            raise ValueError(f"params have layer sizes {mlp_lib.layer_sizes_of(params)}, expected {sizes}")
        self.layer_sizes = sizes
        self.activation = activation
        if params is None:
            params = mlp_lib.init(rngs.params(), sizes, activation)
        for index, layer in enumerate(params):
            setattr(self, _layer_name(index), _Layer(layer))

    @classmethod
    def from_mlp_params(cls, params: list, activation: str = "rectifier") -> "SparseMLPNNX":
        """The module holding ``params`` (mlp layout, e.g. a trained ``Result.params``)."""
        return cls(mlp_lib.layer_sizes_of(params), activation, rngs=nnx.Rngs(0), params=params)

    def mlp_params(self) -> list:
        """The parameters in mlp layout, ``[{"w", "b"}, ...]``, layer 0 first."""
        layers = [getattr(self, _layer_name(index)) for index in range(len(self.layer_sizes) - 1)]
        return [{"w": layer.w[...], "b": layer.b[...]} for layer in layers]

    def __call__(self, x: Array, **activation_params) -> tuple[Array, list[Array]]:
        return mlp_lib.apply(self.mlp_params(), x, self.activation, **activation_params)
