"""The optimizers of a run, and the one way a learning rate reaches them.

Fine-tuning uses any ``optax.GradientTransformation`` (``make_train(config, optimizer=...)``); the
default is the paper's plain SGD at a constant rate. Its learning rate has one source, the traced
``Hparams.lr`` (``Hparams.pretrain_lr`` for the auto-encoders' SGD): the optimizer is built with
``optax.inject_hyperparams``, which keeps ``learning_rate`` in the optimizer *state*, and the run writes
``Hparams.lr`` there when the state is made (:func:`init`). The rate is then an array of the state, so
``jax.vmap`` trains networks with different rates in one program, and a pre-trained stack is
fine-tuned at any rate. The number given when building the optimizer is never used::

    adam = optax.inject_hyperparams(optax.adam)(learning_rate=0.0)     # 0.0: a placeholder
    train = make_train(config, optimizer=adam)

A schedule multiplies the injected rate, e.g. ``optax.chain(adam, optax.scale_by_schedule(decay))``
with ``decay(step)`` going from 1 down. An optimizer with no injected ``learning_rate`` (``optax.adam(1e-3)``)
or a scheduled one (``inject_hyperparams(optax.sgd)(learning_rate=schedule)``) would ignore
``Hparams.lr``: :func:`init` refuses it with a ValueError.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

LEARNING_RATE = "learning_rate"


def sgd(learning_rate: float = 0.0) -> optax.GradientTransformation:
    """Plain SGD, ``theta <- theta - lr * grad``, with the learning rate held in the optimizer state
    (set it with :func:`init`), so that it can be traced and vmapped rather than compiled in."""
    return optax.inject_hyperparams(optax.sgd)(learning_rate=learning_rate)


def _is_injected(node) -> bool:
    """An ``optax.inject_hyperparams`` state (any optax version: it has hyperparams and an inner state)."""
    return hasattr(node, "hyperparams") and hasattr(node, "inner_state")


def check(optimizer) -> optax.GradientTransformation:
    """``optimizer`` if it is an optax ``GradientTransformation``; TypeError otherwise."""
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"the optimizer must be an optax.GradientTransformation (e.g. "
                        f"optax.inject_hyperparams(optax.adam)(learning_rate=0.0)), got {type(optimizer).__name__}")
    return optimizer


def init(optimizer: optax.GradientTransformation, params, learning_rate):
    """``optimizer.init(params)`` with every injected ``learning_rate`` set to ``learning_rate`` (a float
    or a traced scalar), in the dtype the optimizer chose for it.

    ValueError (a check of the state's structure, before any math) when no ``learning_rate`` was
    injected, or when one is a schedule, which would replace the value written here at every step."""
    state = optimizer.init(params)
    injected = [node for node in jax.tree.leaves(state, is_leaf=_is_injected) if _is_injected(node)]
    plain = [node for node in injected if LEARNING_RATE in node.hyperparams]
    if not plain:
        raise ValueError("the optimizer has no learning_rate for Hparams.lr to set: build it with "
                         "optax.inject_hyperparams, e.g. optax.inject_hyperparams(optax.adam)(learning_rate=0.0)")
    if any(LEARNING_RATE in getattr(node, "hyperparams_states", {}) for node in plain):
        raise ValueError("the optimizer's learning_rate is a schedule, which would override Hparams.lr: inject a "
                         "number and multiply it by the schedule, optax.chain(opt, optax.scale_by_schedule(s))")

    def put(node):
        if _is_injected(node) and LEARNING_RATE in node.hyperparams:
            current = node.hyperparams[LEARNING_RATE]
            hyperparams = {**node.hyperparams, LEARNING_RATE: jnp.asarray(learning_rate, current.dtype)}
            return node._replace(hyperparams=hyperparams)
        return node

    return jax.tree.map(put, state, is_leaf=_is_injected)
