"""Section 3.1's ill-conditioning experiment: networks started from one initial network rescaled by alpha
vectors of product 1 compute the same function at step 0, a batched sweep over alpha vectors trains each
as it would be trained alone, alphas all 1 leave the engine's results as they were, bad alpha vectors
are refused in one line, and the tiny preset writes its files."""
import dataclasses
import math
import os
import shutil

import jax
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from deep_sparse import experiment, hparam_rules, mlp, planner, reparam, sweep
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.store import read_results
from deep_sparse.sweep_options import SweepOptions
from deep_sparse.train import make_train, prepare_data
from sweeps import ill_conditioning

from fakes import fake_load_splits

CONFIG = TrainConfig(num_classes=3, hidden_sizes=(16, 12), batch_size=10, epochs=2, patience=None)
VECTORS = ((1, 1, 1), (2, 0.5, 1), (4, 1, 0.25), (0.5, 0.5, 4))
QUIET = dict(progress=False, log=lambda message: None, checkpoint_every=0, metrics=False)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.normal(0.0, 1.0, (3, 20))
    splits = {}
    for name, n in (("train", 100), ("valid", 40), ("test", 40)):
        y = rng.integers(0, 3, n)
        splits[name] = ((centers[y] + rng.normal(0.0, 1.5, (n, 20))).astype(np.float32), y.astype(np.int32))
    return prepare_data(CONFIG, splits)


def initial_params(vector, data, seed=0):
    hparams = Hparams(**hparam_rules.init_alpha_values(vector))
    return make_train(CONFIG).init(jax.random.PRNGKey(seed), hparams, data).params


def numpy_logits(params, x):
    h = x.astype(np.float64)
    for layer in params[:-1]:
        h = np.maximum(h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64), 0.0)
    return h @ np.asarray(params[-1]["w"], np.float64) + np.asarray(params[-1]["b"], np.float64)


# ------------------------------------------------------------------ (a) the same function at step 0
@pytest.mark.parametrize("vector", VECTORS[1:])
def test_every_alpha_vector_starts_as_the_same_function_with_the_rescaled_parameters(vector, data):
    plain, rescaled = initial_params((1, 1, 1), data), initial_params(vector, data)
    cumulative = np.cumprod(vector)
    for layer, (before, after) in enumerate(zip(plain, rescaled)):
        np.testing.assert_allclose(after["w"], np.asarray(before["w"]) / vector[layer], rtol=1e-6)
        np.testing.assert_allclose(after["b"], np.asarray(before["b"]) / cumulative[layer], rtol=1e-6)
    assert not np.allclose(rescaled[0]["w"], plain[0]["w"])  # the parameters did move
    x = np.asarray(data.x_test)
    np.testing.assert_allclose(numpy_logits(rescaled, x), numpy_logits(plain, x), rtol=1e-5, atol=1e-5)
    logits, _ = mlp.apply(rescaled, x, jax.nn.relu)
    np.testing.assert_allclose(np.asarray(logits), numpy_logits(plain, x), rtol=1e-4, atol=1e-4)


def test_the_output_alpha_is_implied_by_the_hidden_ones():
    values = hparam_rules.init_alpha_values((0.5, 0.5, 2, 2))
    assert values == {"init_alpha_1": 0.5, "init_alpha_2": 0.5, "init_alpha_3": 2.0}
    alphas = reparam.initial_alphas(Hparams(**values), 3)
    np.testing.assert_allclose(np.asarray(alphas), [0.5, 0.5, 2.0, 2.0], rtol=1e-7)
    assert np.asarray(reparam.initial_alphas(Hparams(init_alpha_1=2.0), 0)).tolist() == [1.0]


# ------------------------------------------------------------------ (b) batched = alone
@settings(max_examples=3, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0]), st.sampled_from([0.5, 1.0, 2.0])),
                min_size=2, max_size=3))
def test_network_k_of_the_sweep_is_its_alpha_vector_trained_alone(data, tmp_path_factory, factors):
    vectors = [(a, b, 1.0 / (a * b)) for a, b in factors]
    points = [{"lr": 0.1, "l1": 1e-3, **hparam_rules.init_alpha_values(v)} for v in vectors]
    rows = sweep.run(CONFIG, points, str(tmp_path_factory.mktemp("sweep")), data,
                     options=SweepOptions(chunk_size=len(points), **QUIET))
    train = jax.jit(make_train(CONFIG))
    for row, point, vector in zip(rows, points, vectors):
        alone = jax.device_get(train(jax.random.PRNGKey(0), Hparams(**point), data))
        for name in ("test_error", "valid_error", "sparsity"):
            np.testing.assert_allclose(row[name], float(getattr(alone, name)), rtol=1e-5, atol=1e-6)
        expected = [np.linalg.norm(np.asarray(layer["w"], np.float64)) for layer in alone.params]
        np.testing.assert_allclose(ill_conditioning.norms(row), expected, rtol=1e-5)
        np.testing.assert_allclose(ill_conditioning.alpha_vector(row), vector, rtol=1e-6)


# ------------------------------------------------------------------ (c) refusals
@pytest.mark.parametrize("vector, message", [
    ((2, 1, 1, 1), r"alpha_vectors\[1\] must have a product of 1 .*got \(2, 1, 1, 1\) \(product 2\)$"),
    ((0, 1, 1, 1), r"alpha_vectors\[1\] must be a non-empty list of finite numbers > 0, got \(0, 1, 1, 1\)$"),
    ((-1, -1, 1, 1), r"alpha_vectors\[1\] must be a non-empty list of finite numbers > 0, got \(-1, -1, 1, 1\)$"),
    ((2, 0.5, 1), r"alpha_vectors\[1\] must have one alpha per layer \(4, the output layer included\)"),
])
def test_a_bad_alpha_vector_is_refused_in_one_line_naming_it(vector, message):
    quick = ill_conditioning.PRESETS["quick"]
    with pytest.raises(ValueError, match=message) as refused:
        dataclasses.replace(quick, alpha_vectors=((1, 1, 1, 1), vector))
    assert "\n" not in str(refused.value) and str(refused.value).startswith("preset 'quick'")
    with pytest.raises(ValueError, match=r"^alphas must "):
        hparam_rules.init_alpha_values(vector if vector != (2, 0.5, 1) else (2, 1))


def test_the_planner_refuses_a_non_positive_alpha_or_one_for_a_layer_the_network_lacks():
    with pytest.raises(ValueError, match=r"grid point 0: init_alpha_2 must be a finite number > 0, got 0.0"):
        planner.plan(CONFIG, [{"init_alpha_2": 0.0}])
    with pytest.raises(ValueError, match=r"grid point 1: init_alpha_3 must be 1 for a network of 2 hidden layer\(s\), "
                                         r"got 2.0$"):
        planner.plan(CONFIG, [{}, {"init_alpha_3": 2.0}])
    with pytest.raises(ValueError, match="may differ from 1 only on the first 3 hidden layers"):
        hparam_rules.init_alpha_values((2, 1, 1, 0.5, 1))


# ------------------------------------------------------------------ (d) the tiny preset end to end
def test_the_tiny_preset_writes_its_files_labelled_as_ours(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEP_SPARSE_OFFLINE", "1")
    monkeypatch.setattr(experiment, "load_splits", fake_load_splits)
    out = tmp_path / "run"
    assert ill_conditioning.main(["--preset", "tiny", "--out", str(out), "--quiet", "--no-compilation-cache"]) == 0
    for name in ("shapeset/results.csv", "shapeset/results.json", "summary.md", "ill_conditioning.png"):
        assert (out / name).stat().st_size > 0, name
    rows = read_results(str(out / "shapeset"))
    assert len(rows) == 6 and {ill_conditioning.alpha_vector(r) for r in rows} == {(1, 1, 1), (2, 0.5, 1), (2, 1, 0.5)}
    summary = (out / "summary.md").read_text()
    assert ill_conditioning.LABEL in summary and "paper source" not in summary and "(2, 1/2, 1)" in summary
    root = tmp_path / "results"
    shutil.copytree(out / "shapeset", root / ill_conditioning.PAPER_FOLDER / "mnist")
    lines = ill_conditioning.report_lines(str(root), str(tmp_path))
    assert ill_conditioning.LABEL in lines[0] and (tmp_path / "report_ill_conditioning.png").stat().st_size > 0
    spread = [line for line in lines if line.startswith("| 0 |") or line.startswith("| 0.001 |")]
    assert len(spread) == 2 and len(lines) < 12  # the spread per L1 value; each network only in summary.md
    assert "not run" in ill_conditioning.report_lines(str(tmp_path / "empty"), str(tmp_path))[0]


# ------------------------------------------------------------------ (e) alphas all 1 change nothing
def test_alphas_all_one_give_the_engine_s_rows_bit_for_bit(data, tmp_path, monkeypatch):
    grid = {"lr": [0.1], "l1": [0.0, 1e-3], "seed": [0, 1]}
    ones = [dict(point, **hparam_rules.init_alpha_values((1, 1, 1))) for point in sweep.product(**grid)]
    rescaled = sweep.run(CONFIG, ones, str(tmp_path / "ones"), data, options=SweepOptions(**QUIET))
    # the engine without the rescaling step: what it computed before alpha vectors existed
    monkeypatch.setattr(reparam, "rescale", lambda params, alphas: params)
    plain = sweep.run(CONFIG, grid, str(tmp_path / "plain"), data, options=SweepOptions(**QUIET))
    assert len(plain) == len(rescaled) == 4
    for mine, theirs in zip(rescaled, plain):
        assert mine == theirs
    assert not math.isclose(plain[0]["sparsity"], plain[1]["sparsity"])  # the grid's networks differ
