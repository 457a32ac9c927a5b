"""The pre-training math around one layer's auto-encoder (section 3.2) that is not the DAE cost itself
(:mod:`deep_sparse.dae`): the network's layer written in the auto-encoder's code units and back, and a
decoder with weights of its own attached to and taken from the layer. Pure functions of arrays.
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

Array = jax.Array

# (low, span) of the map u = (h - low) / span of tanh codes onto [0, 1], the cross-entropy targets' range
TANH_CODE_SCALE = (-1.0, 2.0)


def to_code_units(layer: dict, code_scale) -> dict:
    """The fine-tuned network's ``layer`` (applied to a code ``h``) as the auto-encoder's encoder on the
    scaled code ``u = (h - low) / span`` (``code_scale = (low, span)``, None: no scaling): the same
    function, ``u (span W) + (b + low sum_rows W) = h W + b``."""
    if code_scale is None:
        return layer
    low, span = code_scale
    return dict(layer, w=layer["w"] * span, b=layer["b"] + low * jnp.sum(layer["w"], axis=0))


def from_code_units(layer: dict, code_scale) -> dict:
    """The inverse of :func:`to_code_units`: the auto-encoder's encoder back as the network's layer."""
    if code_scale is None:
        return layer
    low, span = code_scale
    w = layer["w"] / span
    return dict(layer, w=w, b=layer["b"] - low * jnp.sum(w, axis=0))


def with_decoder(layer: dict, decoder_weights) -> dict:
    """The auto-encoder's parameters of ``layer``: with its decoder's own weights when it has them."""
    return layer if decoder_weights is None else dict(layer, w_dec=decoder_weights)


def without_decoder(layer: dict) -> tuple[dict, Optional[Array]]:
    """The inverse of :func:`with_decoder`: (the network's layer, the decoder's weights or None)."""
    layer = dict(layer)
    return layer, layer.pop("w_dec", None)
