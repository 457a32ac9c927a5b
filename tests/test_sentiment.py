"""Issue 11.6, section 4.2 (Table 2): unlabeled reviews for pre-training only, the [0, 1] scaling of
rectifier codes the same function in pre-training and fine-tuning, the noise level chosen on
classification, and the input's own sparsity for the network with no hidden layer."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deep_sparse import mlp, pretraining
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.data import reviews
from deep_sparse.train import Trainer, prepare_data
from sweeps import sentiment

KEY = jax.random.PRNGKey(0)
HPARAMS = Hparams(lr=0.1, pretrain_lr=0.1, l1=0.0001, noise_level=0.1)
CONFIG = TrainConfig(dataset="reviews", task="ratings", num_classes=5, hidden_sizes=(8, 6), batch_size=5, epochs=1,
                     pretrain_epochs=1, pretrain_strategy="sigmoid_cross_entropy", corruption="mask",
                     first_layer_corruption="salt_and_pepper")


def binary_splits(seed=0, n=(40, 30, 20), width=12, density=0.3):
    rng = np.random.default_rng(seed)
    return {name: ((rng.random((m, width)) < density).astype(np.float32), rng.integers(0, 5, m).astype(np.int32))
            for name, m in zip(("train", "valid", "test"), n)}


@pytest.fixture(scope="module")
def run():
    """The trainer of ``CONFIG``, its compiled functions (shared by the tests: compiling is what costs
    here), and data whose pre-training inputs are the training inputs and as many others."""
    trainer = Trainer(CONFIG)
    data = prepare_data(CONFIG, binary_splits())
    data = data.replace(x_pretrain=jnp.concatenate([data.x_train, jnp.asarray(binary_splits(seed=1)["train"][0])]))
    return dict(trainer=trainer, data=data, init=jax.jit(trainer.init), finetune_epoch=jax.jit(trainer.finetune_epoch),
                pretrain_epoch=jax.jit(trainer.pretrain_epoch, static_argnames="layer_index"))


def assert_trees_close(a, b, equal=True):
    close = all(np.allclose(x, y, rtol=1e-6, atol=1e-7) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    assert close == equal


# ------------------------------------------------------------------ (a) unlabeled reviews, pre-training only
def test_pretraining_trains_on_x_pretrain_and_fine_tuning_never_reads_it(run):
    trainer, data = run["trainer"], run["data"]
    assert data.replace(x_pretrain=None).pretrain_inputs is data.x_train  # the default
    start = run["init"](KEY, HPARAMS, data)
    state = run["pretrain_epoch"](start, HPARAMS, data, layer_index=0)
    n_train = data.x_train.shape[0]
    other = data.replace(x_pretrain=data.x_pretrain.at[n_train:].set(1.0 - data.x_pretrain[n_train:]))
    # other inputs beside the training ones: another pre-trained layer
    assert_trees_close(state.params, run["pretrain_epoch"](start, HPARAMS, other, layer_index=0).params, equal=False)
    # fine-tuning, validation and test never read them: the same epoch with either
    assert_trees_close(run["finetune_epoch"](state, HPARAMS, data).params,
                       run["finetune_epoch"](state, HPARAMS, other).params)
    with pytest.raises(ValueError, match="x_pretrain has 5 features, x_train has 12"):
        trainer.check_data(data.replace(x_pretrain=jnp.zeros((20, 5))))


def test_the_fold_pretrains_on_its_training_reviews_and_the_unlabeled_ones(tmp_path):
    path = reviews.make_synthetic_reviews(str(tmp_path / "r.jsonl"), 60, seed=0)
    unlabeled = reviews.make_synthetic_reviews(str(tmp_path / "u.jsonl"), 25, seed=1, labeled=False)
    sparse = reviews.load_fold(path, fold=0, k=40, dense=False, unlabeled=unlabeled)
    data = sentiment.fold_data(CONFIG, sparse)
    assert data.x_train.shape[0] == len(sparse["train"][0]) == 48  # the supervised fold: labeled reviews only
    np.testing.assert_array_equal(np.asarray(data.x_pretrain),
                                  np.concatenate([sparse["train"][0].densify(), sparse["unlabeled"][0].densify()]))
    without = reviews.load_fold(path, fold=0, k=40, dense=False)
    assert sentiment.fold_data(CONFIG, without).x_pretrain is None  # pre-training sees x_train


def test_unlabeled_needs_reviews(tmp_path, capsys):
    with pytest.raises(SystemExit):
        sentiment.main(["--preset", "tiny", "--unlabeled", str(tmp_path / "u.csv"), "--out", str(tmp_path / "o")])
    assert "--unlabeled needs --reviews" in capsys.readouterr().err


# ------------------------------------------------------------------ (b) the [0, 1] scaling of rectifier codes
def test_the_second_autoencoder_encodes_with_the_fine_tuned_networks_own_layer(run):
    """The clean validation reconstruction error recorded for layer 2 is that of an auto-encoder whose
    encoder is exactly the fine-tuned network's layer 2 on the code h of layer 1, and whose input and
    target are h / s (s: the largest code over the pre-training inputs; tied decoder s W2^T)."""
    data = run["data"]
    state = run["pretrain_epoch"](run["init"](KEY, HPARAMS, data), HPARAMS, data, layer_index=1)
    (w1, b1), (w2, b2) = [(np.asarray(p["w"], np.float64), np.asarray(p["b"], np.float64)) for p in state.params[:2]]
    b_dec = np.asarray(state.decoder_biases[1], np.float64)
    scale = np.maximum(np.asarray(data.x_pretrain) @ w1 + b1, 0).max()
    h = np.maximum(np.asarray(data.x_valid) @ w1 + b1, 0)
    code = np.maximum(h @ w2 + b2, 0)  # what the fine-tuned network computes
    _, hidden = mlp.apply(state.params, data.x_valid, jax.nn.relu)
    np.testing.assert_allclose(np.asarray(hidden[1]), code, rtol=1e-4, atol=1e-5)
    logits = code @ (scale * w2).T + b_dec
    target = np.clip(h / scale, 0, 1)
    expected = np.mean(np.sum(np.logaddexp(0, logits) - target * logits, axis=1))
    np.testing.assert_allclose(float(state.curves.pretrain_valid_loss[1, 0]), expected, rtol=1e-4)


def test_the_scale_is_fixed_by_the_pretraining_inputs_not_the_mini_batch(run):
    data = run["data"]
    below = run["init"](KEY, HPARAMS, data).params[:1]
    low, span = pretraining.code_scale(CONFIG, below, jax.nn.relu, data.x_pretrain)
    assert float(low) == 0.0
    codes, _ = pretraining.autoencoder_input(CONFIG, below, jax.nn.relu, data.x_pretrain, None, (low, span))
    assert float(jnp.max(codes)) == pytest.approx(1.0) and float(jnp.min(codes)) == 0.0
    few, _ = pretraining.autoencoder_input(CONFIG, below, jax.nn.relu, data.x_pretrain[:5], None, (low, span))
    np.testing.assert_allclose(np.asarray(few), np.asarray(codes[:5]), rtol=1e-6)  # a mini-batch: the same map
    assert pretraining.code_scale(CONFIG, [], jax.nn.relu, data.x_pretrain) is None  # raw inputs are not scaled


# ------------------------------------------------------------------ (c) noise level on classification
def test_the_noise_level_is_chosen_on_validation_and_the_pretraining_lr_on_reconstruction():
    def row(model, noise, plr, reconstruction, valid):
        return dict(model=model, noise_level=noise, pretrain_lr=plr, pretrain_reconstruction=reconstruction,
                    valid_error=valid, test_error=0.0, pretrain_epochs=1, diverged=False, lr=0.1)

    rows = [row("rectifier_1", 0.01, 0.1, 1.0, 0.90),  # the lowest reconstruction error of all
            row("rectifier_1", 0.01, 0.01, 2.0, 0.70),
            row("rectifier_1", 0.1, 0.1, 4.0, 0.60),  # best RMSE, but not its noise level's best reconstruction
            row("rectifier_1", 0.1, 0.01, 3.0, 0.80),
            dict(row("no_hidden", 0.01, 0.1, None, 1.0), pretrain_epochs=0)]
    chosen = sentiment.select_models(rows)
    assert chosen == {"rectifier_1": rows[3], "no_hidden": rows[4]}
    paper = sentiment.PRESETS["paper"]
    assert len(paper.noise_level) > 1 and paper.pretrain_lr == (0.1, 0.01, 0.001, 0.0001)
    assert "noise level grid" in paper.description and "reconstruction error" in paper.description


def test_the_grid_sweeps_noise_and_pretraining_lr_only_for_pretrained_models():
    pairs = sentiment.sentiment_grid(sentiment.PRESETS["tiny"])
    by_model = {m: [p for model, p in pairs if model == m] for m in ("no_hidden", "rectifier_1")}
    assert len(by_model["no_hidden"]) == 1 and by_model["no_hidden"][0]["pretrain_epochs"] == 0
    assert {(p["noise_level"], p["pretrain_lr"]) for p in by_model["rectifier_1"]} == {
        (0.05, 0.1), (0.05, 0.01), (0.2, 0.1), (0.2, 0.01)}


# ------------------------------------------------------------------ (d) no hidden layer: the input's sparsity
def test_no_hidden_layer_reports_the_inputs_own_sparsity():
    x = reviews.bag_of_words(["good food", "bad", "good good service"], {"good": 0, "food": 1, "bad": 2,
                                                                          "service": 3})
    assert sentiment.input_sparsity(x) == pytest.approx(1 - 5 / 12)
    row = {"sparsity": 0.0}  # what the engine reports for a network without hidden layers
    assert sentiment.reported_sparsity("no_hidden", row, x) == pytest.approx(7 / 12)
    assert sentiment.reported_sparsity("rectifier_1", {"sparsity": 0.3}, x) == 0.3
