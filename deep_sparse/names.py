"""The names and defaults the command lines show, in a module that does not import JAX: building a
parser (``--help``) reads them here, and the modules that compute take them from here too, so that
each is written once."""

# the activation functions of :mod:`deep_sparse.activations`, in its order (its functions of these names)
ACTIVATIONS = ("rectifier", "softplus", "scaled_softplus", "tanh", "sigmoid", "half_negated_rectifier", "lif_rate",
               "rectified_tanh", "abs_tanh", "linear")

# :mod:`deep_sparse.dae`'s corruption processes, and :func:`deep_sparse.mlp.init`'s softmax-layer starts
CORRUPTIONS = ("mask", "gaussian", "salt_and_pepper", "none")
OUTPUT_LAYER_INITS = ("uniform", "zeros")
# how the pre-training lr is chosen among a sweep's candidates: one for the whole stack, on the error summed
# over its layers (section 4.1's reading), or one per layer, greedily on that layer's own error
# (:mod:`deep_sparse.layer_choice`)
PRETRAIN_LR_SELECTIONS = ("stack", "per_layer")
# what a network's output is read as: class probabilities, or a rating's stars (section 4.2)
TASKS = ("classification", "ratings")
# how a mini-batch's cost is normalised: "mean" (this library's cost, every term averaged over the
# examples) or "summed" (the data term, NLL or reconstruction, summed over them and the L1 term averaged),
# the two readings the papers' text allows (:func:`deep_sparse.config.from_summed_cost`)
MINIBATCH_COSTS = ("mean", "summed")

# :mod:`deep_sparse.runtime`: the matmul precisions a run may ask for, the contract's, and where the
# compilation cache goes
MATMUL_PRECISIONS = ("highest", "tensorfloat32", "default")
DEFAULT_MATMUL_PRECISION = "highest"
CACHE_ENV = "DEEP_SPARSE_CACHE"


class DeadlineReached(Exception):
    """``run(..., deadline=...)`` stopped before the deadline: every finished chunk and the running
    chunk's last epoch are saved, and ``resume=True`` continues from them."""
