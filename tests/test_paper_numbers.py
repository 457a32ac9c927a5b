"""The papers' numbers in sweeps/paper_numbers.py, checked against values typed again from the papers."""
import math

import pytest

from sweeps import paper_numbers as pn


@pytest.mark.parametrize("key, value", [
    (pn.table1_key("mnist", "rectifier", True), 0.0120),
    (pn.table1_key("mnist", "rectifier", False), 0.0143),
    (pn.table1_key("cifar10", "tanh", False), 0.5262),
    (pn.table1_key("norb", "softplus", True), 0.1919),
    (pn.table1_key("nistp", "softplus", False), 0.3548),
    (pn.sparsity_key("mnist"), 0.834),
    (pn.sparsity_key("norb"), 0.738),
    (pn.alpha_key("norb", 1.3), 0.1753),
    (pn.alpha_key("norb", math.inf), 0.1640),
    (pn.sentiment_key("rectifier_3", "rmse"), 0.746),
    (pn.sentiment_key("rectifier_1", "sparsity"), 0.289),
    (pn.layer_sparsity_key(True, 1), 0.9394),
    (pn.layer_sparsity_key(False, 3), 0.3718),
    (pn.workshop_error_key("shapeset", "rectifier_l1"), 0.2862),
    (pn.workshop_error_key("mnist", "tanh"), 0.0166),
    (pn.workshop_pretrained_key("tanh", "test"), 0.0130),
])
def test_values_typed_from_the_papers(key, value):
    assert pn.lookup(key)["value"] == pytest.approx(value, abs=1e-9)


def test_table1_bold_marks_match_the_paper():
    # bold = statistically equivalent with and without pre-training (AISTATS Table 1)
    assert pn.lookup(pn.table1_key("mnist", "tanh", True))["bold"] is True
    assert pn.lookup(pn.table1_key("mnist", "tanh", False))["bold"] is False
    assert pn.lookup(pn.table1_key("norb", "rectifier", False))["bold"] is True
    assert pn.lookup(pn.table1_key("nistp", "tanh", True))["bold"] is False


def test_standard_deviations_are_kept():
    assert pn.lookup(pn.sentiment_key("tanh_3", "rmse"))["sd"] == pytest.approx(0.008)
    assert pn.lookup(pn.workshop_pretrained_key("rectifier_l1", "valid"))["sd"] == pytest.approx(0.0007)


def test_table_shapes():
    assert len(pn.AISTATS_TABLE1) == 3 * 2 * 4  # activations x pre-training x data sets
    assert len(pn.AISTATS_SOFTPLUS_ALPHA_NORB) == 6
    assert set(pn.AISTATS_TABLE2) == {"no_hidden", "rectifier_1", "rectifier_3", "tanh_3"}
    # the alpha couples end at the rectifier's NORB number of Table 1 (16.40%)
    assert pn.AISTATS_SOFTPLUS_ALPHA_NORB[math.inf] == pn.AISTATS_TABLE1[("norb", False, "rectifier")][0]
    # every number is a fraction or an RMSE: all in [0, 1]
    assert all(0.0 <= cell["value"] <= 1.0 for cell in pn.PAPER.values())


def test_unknown_cell_is_none():
    assert pn.lookup(None) is None
    assert pn.lookup(pn.table1_key("shapeset", "rectifier", True)) is None
