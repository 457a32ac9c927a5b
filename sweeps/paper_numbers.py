"""The papers' numbers, typed from /work/shared/papers, as data for ``sweeps.report``.

Sources:

- ``aistats``: Glorot, Bordes & Bengio, "Deep Sparse Rectifier Neural Networks", AISTATS 2011.
- ``workshop``: Glorot & Bengio, "Sparse Rectifier Neural Networks" (workshop version).

Every number is a fraction (1.20% is 0.0120), except RMSEs (star units). ``PAPER`` maps a cell id to
``{"value", "sd", "source", "where", "what", "bold"}``; ``sd`` is the paper's ± where it gives one and
``bold`` marks Table 1's "statistically equivalent with and without pre-training". The ids are what
the experiment modules write in their ``cells.json`` (``paper_key``), so the report can put each of our
numbers beside the paper's.
"""
from __future__ import annotations

import math

INF = math.inf

# AISTATS 2011, Table 1: test error, networks of depth 3 (3 x 1000; NORB: 4000-2000).
# {(dataset, pretrained, activation): (test error, bold)}
AISTATS_TABLE1 = {
    ("mnist", True, "rectifier"): (0.0120, True),
    ("cifar10", True, "rectifier"): (0.4996, True),
    ("nistp", True, "rectifier"): (0.3286, True),
    ("norb", True, "rectifier"): (0.1646, True),
    ("mnist", True, "tanh"): (0.0116, True),
    ("cifar10", True, "tanh"): (0.5079, True),
    ("nistp", True, "tanh"): (0.3589, False),
    ("norb", True, "tanh"): (0.1766, False),
    ("mnist", True, "softplus"): (0.0117, True),
    ("cifar10", True, "softplus"): (0.4952, True),
    ("nistp", True, "softplus"): (0.3327, True),
    ("norb", True, "softplus"): (0.1919, False),
    ("mnist", False, "rectifier"): (0.0143, True),
    ("cifar10", False, "rectifier"): (0.5086, True),
    ("nistp", False, "rectifier"): (0.3264, True),
    ("norb", False, "rectifier"): (0.1640, True),
    ("mnist", False, "tanh"): (0.0157, False),
    ("cifar10", False, "tanh"): (0.5262, False),
    ("nistp", False, "tanh"): (0.3646, False),
    ("norb", False, "tanh"): (0.1929, False),
    ("mnist", False, "softplus"): (0.0177, False),
    ("cifar10", False, "softplus"): (0.5320, False),
    ("nistp", False, "softplus"): (0.3548, False),
    ("norb", False, "softplus"): (0.1768, False),
}

# AISTATS 2011, section 4.1: average exact sparsity of the hidden layers of rectifier networks.
AISTATS_SPARSITY = {"mnist": 0.834, "cifar10": 0.720, "nistp": 0.680, "norb": 0.738}

# AISTATS 2011, section 4.1: rescaled softplus softplus(alpha x) / alpha on NORB, alpha / test error.
AISTATS_SOFTPLUS_ALPHA_NORB = {1.0: 0.1768, 1.3: 0.1753, 2.0: 0.169, 3.0: 0.1666, 6.0: 0.1654, INF: 0.1640}

# AISTATS 2011, Table 2: OpenTable reviews, 10-fold cross-validation: (RMSE, sd, sparsity, sd).
AISTATS_TABLE2 = {
    "no_hidden": (0.885, 0.006, 0.994, 0.0),
    "rectifier_1": (0.807, 0.004, 0.289, 0.002),
    "rectifier_3": (0.746, 0.004, 0.539, 0.007),
    "tanh_3": (0.774, 0.008, 0.000, 0.0),
}
AISTATS_TABLE2_LABELS = {
    "no_hidden": "No hidden layer",
    "rectifier_1": "Rectifier (1-layer)",
    "rectifier_3": "Rectifier (3-layers)",
    "tanh_3": "Tanh (3-layers)",
}

# Workshop paper, Table 1 left: per-layer sparsity, rectifier, MNIST, no pre-training.
WORKSHOP_TABLE1_SPARSITY = {
    (True, 1): 0.9394, (True, 2): 0.8092, (True, 3): 0.7666,  # with L1
    (False, 1): 0.5223, (False, 2): 0.4386, (False, 3): 0.3718,  # without L1
}

# Workshop paper, Table 1 right: test error without pre-training. Keys: (dataset, neuron type).
WORKSHOP_TABLE1_ERROR = {
    ("shapeset", "rectifier_l1"): 0.2862, ("mnist", "rectifier_l1"): 0.0156,
    ("shapeset", "rectifier"): 0.2986, ("mnist", "rectifier"): 0.017,
    ("shapeset", "softplus"): 0.3658, ("mnist", "softplus"): 0.0155,
    ("shapeset", "tanh"): 0.3664, ("mnist", "tanh"): 0.0166,
}
WORKSHOP_NEURONS = {
    "rectifier_l1": "Rectifier + L1 penalty", "rectifier": "Rectifier", "softplus": "Softplus", "tanh": "Tanh",
}

# Workshop paper, Table 2: MNIST with DAE pre-training, average of the 5 best models: (mean, sd).
WORKSHOP_TABLE2 = {
    ("rectifier_l1", "test"): (0.0116, 0.0007), ("rectifier_l1", "valid"): (0.0115, 0.0007),
    ("tanh", "test"): (0.0130, 0.0012), ("tanh", "valid"): (0.0118, 0.0005),
}


def alpha_label(alpha: float) -> str:
    return "inf" if alpha is None or math.isinf(alpha) else f"{alpha:g}"


def _build() -> dict:
    paper: dict = {}

    def add(key, value, source, where, what, sd=None, bold=None):
        if key in paper:
            raise ValueError(f"duplicate paper cell {key}")
        paper[key] = {"value": value, "sd": sd, "source": source, "where": where, "what": what, "bold": bold}

    for (dataset, pretrained, activation), (value, bold) in AISTATS_TABLE1.items():
        add(table1_key(dataset, activation, pretrained), value, "aistats", "Table 1",
            f"test error, {activation}, {'with' if pretrained else 'without'} pre-training, {dataset}", bold=bold)
    for dataset, value in AISTATS_SPARSITY.items():
        add(sparsity_key(dataset), value, "aistats", "section 4.1",
            f"average exact sparsity of the hidden layers, rectifier, {dataset}")
    for alpha, value in AISTATS_SOFTPLUS_ALPHA_NORB.items():
        add(alpha_key("norb", alpha), value, "aistats", "section 4.1",
            f"test error, rescaled softplus alpha={alpha_label(alpha)}, norb")
    for model, (rmse, rmse_sd, sparsity, sparsity_sd) in AISTATS_TABLE2.items():
        add(sentiment_key(model, "rmse"), rmse, "aistats", "Table 2",
            f"RMSE, {AISTATS_TABLE2_LABELS[model]}, OpenTable, 10-fold CV", sd=rmse_sd)
        add(sentiment_key(model, "sparsity"), sparsity, "aistats", "Table 2",
            f"sparsity, {AISTATS_TABLE2_LABELS[model]}, OpenTable, 10-fold CV", sd=sparsity_sd)
    for (with_l1, layer), value in WORKSHOP_TABLE1_SPARSITY.items():
        add(layer_sparsity_key(with_l1, layer), value, "workshop", "Table 1 (left)",
            f"fraction of zeros of layer {layer}, rectifier {'with' if with_l1 else 'without'} L1, mnist")
    for (dataset, neuron), value in WORKSHOP_TABLE1_ERROR.items():
        add(workshop_error_key(dataset, neuron), value, "workshop", "Table 1 (right)",
            f"test error without pre-training, {WORKSHOP_NEURONS[neuron]}, {dataset}")
    for (neuron, split), (value, sd) in WORKSHOP_TABLE2.items():
        add(workshop_pretrained_key(neuron, split), value, "workshop", "Table 2",
            f"{split} error with DAE pre-training (mean of the 5 best models), {WORKSHOP_NEURONS[neuron]}, mnist",
            sd=sd)
    return paper


# ------------------------------------------------------------------------------ cell ids
def table1_key(dataset: str, paper_row: str, pretrained: bool) -> str:
    """The id of a cell of AISTATS Table 1 by the paper's row name (rectifier, tanh, softplus)."""
    return f"aistats.table1.{dataset}.{paper_row}.{'pretrained' if pretrained else 'no_pretraining'}"


# Section 4.1: the networks of Table 1's "Rectifier" row have half of their units' outputs multiplied by
# -1 (our half_negated_rectifier); the plain rectifier is an extra row of ours with no paper number.
TABLE1_ROW_OF_ACTIVATION = {"half_negated_rectifier": "rectifier", "tanh": "tanh", "softplus": "softplus"}


def table1_key_for(dataset: str, activation: str, pretrained: bool) -> str | None:
    """The Table 1 cell our network of ``activation`` reproduces, or None (the plain rectifier)."""
    row = TABLE1_ROW_OF_ACTIVATION.get(activation)
    return None if row is None else table1_key(dataset, row, pretrained)


def sparsity_key(dataset: str) -> str:
    return f"aistats.sparsity.{dataset}"


def alpha_key(dataset: str, alpha: float) -> str:
    return f"aistats.softplus_alpha.{dataset}.{alpha_label(alpha)}"


def sentiment_key(model: str, metric: str) -> str:
    return f"aistats.table2.{model}.{metric}"


def layer_sparsity_key(with_l1: bool, layer: int) -> str:
    return f"workshop.table1_left.{'l1' if with_l1 else 'no_l1'}.layer{layer}"


def workshop_error_key(dataset: str, neuron: str) -> str:
    return f"workshop.table1_right.{dataset}.{neuron}"


def workshop_pretrained_key(neuron: str, split: str) -> str:
    return f"workshop.table2.{neuron}.{split}"


PAPER = _build()


def lookup(key: str | None) -> dict | None:
    """The paper's cell ``key`` (None when the paper has no number for it)."""
    return PAPER.get(key) if key else None
