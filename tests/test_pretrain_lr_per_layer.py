"""The pre-training lr chosen per layer (``TrainConfig.pretrain_lr_selection = "per_layer"``): against a
reference composed by hand from the library's single-network stages with NumPy's argmin, on a case
where the per-layer choice differs from the stack's; the default computes as before; the choice is
recorded in results.json and the CSV; the flag is on the command line."""
import csv
import json
import math

import jax
import numpy as np
import pytest
from hypothesis import given, strategies as st

from deep_sparse import layer_choice, selection, sweep
from deep_sparse.config import Hparams
from deep_sparse.executor import ChunkExecutor
from deep_sparse.sweep import SweepOptions
from deep_sparse.train import make_train
from test_sweep import CONFIG, QUIET, make_data

# Two hidden layers of 16 rectifiers on blobs, 2 pre-training epochs per layer. Measured: lr 0.3
# diverges in layer 1; 0.15 reconstructs layer 1 best (0.228 against 0.272 for 0.2), but its stack
# sums the most (1.59 against 1.13 for 0.2), so the stack rule keeps 0.2 and the per-layer rule 0.15.
PER_LAYER_CONFIG = CONFIG.replace(pretrain_epochs=2, epochs=2)
PRETRAIN_LRS = [0.3, 0.2, 0.15]
GRID = {"lr": [0.1, 0.03], "pretrain_lr": PRETRAIN_LRS, "seed": [0], "l1": [1e-3]}


@pytest.fixture(scope="module")
def data():
    return make_data(PER_LAYER_CONFIG)


def run(config, out_dir, data, chunk_size, **options):
    return sweep.run(config, GRID, str(out_dir), data,
                     options=SweepOptions(chunk_size=chunk_size, checkpoint_every=0, **QUIET, **options))


@pytest.fixture(scope="module")
def stack_rows(data, tmp_path_factory):
    return run(PER_LAYER_CONFIG, tmp_path_factory.mktemp("stack") / "out", data, 3)


@pytest.fixture(scope="module")
def per_layer(data, tmp_path_factory):
    """The per-layer sweep in chunks of 1 (each candidate in a chunk of its own): (rows, folder)."""
    out_dir = tmp_path_factory.mktemp("per_layer") / "out"
    return run(PER_LAYER_CONFIG.replace(pretrain_lr_selection="per_layer"), out_dir, data, 1), out_dir


def reference_per_layer(data):
    """The greedy rule composed by hand: each candidate trained alone with ``make_train``'s stages;
    after each layer the candidate of lowest last-epoch validation error of that layer (NaN: +inf,
    ``np.argmin``: the first on ties) gives its layer i, decoder, curves of layer i, epoch count,
    key and stop flags to every candidate, each keeping its own optimizer states (its lr).
    Returns (chosen lr per layer, the final stack)."""
    train = make_train(PER_LAYER_CONFIG)
    hparams = [Hparams(lr=GRID["lr"][0], pretrain_lr=p, l1=1e-3) for p in PRETRAIN_LRS]
    states = [jax.device_get(jax.jit(train.init)(jax.random.PRNGKey(0), h, data)) for h in hparams]
    chosen = []
    for i, stage in enumerate(train.pretrain):
        epoch = jax.jit(stage.epoch)
        for k, h in enumerate(hparams):
            for _ in range(stage.epochs):
                states[k] = jax.device_get(epoch(states[k], h, data))
        errors = np.array([states[k].curves.pretrain_valid_loss[i, -1] for k in range(len(states))], np.float64)
        w = int(np.argmin(np.where(np.isfinite(errors), errors, np.inf)))
        chosen.append(PRETRAIN_LRS[w])
        win = states[w]
        for k, state in enumerate(states):
            params, decoder_biases, decoder_weights = (list(state.params), list(state.decoder_biases),
                                                       list(state.decoder_weights))
            params[i], decoder_biases[i], decoder_weights[i] = (win.params[i], win.decoder_biases[i],
                                                                win.decoder_weights[i])
            layer_i = np.arange(2)[:, None] == i
            curves = state.curves._replace(
                pretrain_loss=np.where(layer_i, win.curves.pretrain_loss, state.curves.pretrain_loss),
                pretrain_valid_loss=np.where(layer_i, win.curves.pretrain_valid_loss, state.curves.pretrain_valid_loss))
            states[k] = state._replace(params=params, best_params=params, decoder_biases=decoder_biases,
                                       decoder_weights=decoder_weights, curves=curves, key=win.key,
                                       pretrain_epoch=np.where(np.arange(2) == i, win.pretrain_epoch,
                                                               state.pretrain_epoch),
                                       stopped=win.stopped, diverged=win.diverged)
    for state in states[1:]:  # one stack at the end
        jax.tree.map(np.testing.assert_array_equal, state.params, states[0].params)
    return chosen, states[0]


def test_the_chosen_lrs_and_the_finetuned_networks_equal_the_greedy_rule_composed_by_hand(data, per_layer):
    rows, _ = per_layer
    chosen, stack = reference_per_layer(data)
    assert chosen == [0.15, 0.2]  # layer 1: 0.3 diverged, 0.15 lowest; layer 2 on 0.15's codes
    train = make_train(PER_LAYER_CONFIG)
    # one stack for the setting: its networks fine-tuned once per fine-tuning lr, under its first candidate's lr
    assert [(r["lr"], r["pretrain_lr"]) for r in rows] == [(0.1, 0.3), (0.03, 0.3)]
    for row in rows:
        assert row["pretrain_lr_per_layer"] == chosen
        hparams = Hparams(lr=row["lr"], pretrain_lr=row["pretrain_lr"], l1=1e-3)
        state = jax.jit(train.start_finetuning)(stack, hparams, data)
        for _ in range(train.finetune.epochs):
            state = jax.jit(train.finetune.epoch)(state, hparams, data)
        alone = jax.device_get(jax.jit(train.finalize)(state, hparams, data))
        for name in ("valid_error", "test_error", "train_error", "sparsity"):
            np.testing.assert_allclose(row[name], float(getattr(alone, name)), rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(row["curves"]["pretrain_valid_loss"], stack.curves.pretrain_valid_loss, rtol=1e-5)
        np.testing.assert_allclose(row["curves"]["valid_error"], alone.curves.valid_error, rtol=1e-5, atol=1e-6)
        assert row["pretrain_reconstruction"] == pytest.approx(float(np.sum(stack.curves.pretrain_valid_loss[:, -1])),
                                                               rel=1e-5)


def test_the_per_layer_choice_differs_from_the_stack_choice_here(stack_rows, per_layer):
    stack_lr = {row["pretrain_lr"] for row in selection.lowest_reconstruction(stack_rows)}
    assert stack_lr == {0.2}
    # layer 1 trains from the same start under both rules: its best candidate is readable from the stacks
    layer1 = {row["pretrain_lr"]: row["curves"]["pretrain_valid_loss"][0][-1] for row in stack_rows}
    finite = {lr: error for lr, error in layer1.items() if math.isfinite(error)}
    assert min(finite, key=finite.get) == 0.15 != stack_lr.pop()
    summed = {row["pretrain_lr"]: row["pretrain_reconstruction"] for row in stack_rows}
    assert summed[0.15] == max(v for v in summed.values() if math.isfinite(v))  # its stack is the worst one
    rows, _ = per_layer
    assert rows[0]["pretrain_lr_per_layer"][0] == 0.15
    chosen_stack = [r for r in stack_rows if r["pretrain_lr"] == 0.2]
    assert rows[0]["pretrain_reconstruction"] != chosen_stack[0]["pretrain_reconstruction"]


def test_the_per_layer_lrs_are_recorded_in_results_json_and_the_csv(per_layer):
    rows, out_dir = per_layer
    with open(out_dir / "results.json") as handle:
        recorded = json.load(handle)
    assert [r["pretrain_lr_per_layer"] for r in recorded["rows"]] == [[0.15, 0.2]] * 2
    skipped = recorded["not_finetuned"]  # the setting's other candidates: the same stack, not fine-tuned again
    assert sorted(r["pretrain_lr"] for r in skipped) == [0.15, 0.15, 0.2, 0.2]
    assert all(r["pretrain_lr_per_layer"] == [0.15, 0.2] for r in skipped)
    assert {r["pretrain_reconstruction"] for r in skipped} == {rows[0]["pretrain_reconstruction"]}
    with open(out_dir / "results.csv", newline="") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert [r["pretrain_lr_per_layer"] for r in csv_rows] == ["0.15 0.2"] * 2
    with open(out_dir / "plan.json") as handle:
        assert json.load(handle)["config"]["pretrain_lr_selection"] == "per_layer"


def test_the_choice_does_not_depend_on_how_the_candidates_are_chunked(data, per_layer, tmp_path):
    rows, _ = per_layer
    # the three candidates in one chunk, vmapped (as on an accelerator)
    together = run(PER_LAYER_CONFIG.replace(pretrain_lr_selection="per_layer"), tmp_path / "out", data, 3,
                   batching="vmap")
    assert [r["pretrain_lr_per_layer"] for r in together] == [r["pretrain_lr_per_layer"] for r in rows]
    for mine, theirs in zip(together, rows, strict=True):  # chunks of other sizes round alike (test_sweep)
        for name in ("pretrain_valid_loss", "valid_error", "valid_sparsity"):
            np.testing.assert_allclose(mine["curves"][name], theirs["curves"][name], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(mine["test_error"], theirs["test_error"], rtol=1e-5, atol=1e-6)


def test_the_default_is_the_stack_rule_unchanged(data, stack_rows, tmp_path):
    explicit = run(PER_LAYER_CONFIG.replace(pretrain_lr_selection="stack"), tmp_path / "out", data, 3)
    # every field, curves included, bit for bit (as text: a diverged stack's curves hold NaN)
    assert json.dumps(explicit, sort_keys=True) == json.dumps(stack_rows, sort_keys=True)
    assert len(stack_rows) == 6 and not any("pretrain_lr_per_layer" in row for row in stack_rows)
    # and every stack is the network trained alone
    train = jax.jit(make_train(PER_LAYER_CONFIG))
    for row in stack_rows[:2]:
        alone = jax.device_get(train(jax.random.PRNGKey(0), Hparams(lr=row["lr"], pretrain_lr=row["pretrain_lr"],
                                                                      l1=1e-3), data))
        np.testing.assert_allclose(row["curves"]["pretrain_valid_loss"], alone.curves.pretrain_valid_loss, rtol=1e-5)


def test_a_resumed_sweep_restores_the_finished_layers_and_chooses_them_again(data, per_layer, tmp_path, monkeypatch):
    config = PER_LAYER_CONFIG.replace(pretrain_lr_selection="per_layer")
    real = ChunkExecutor.run_stages

    def stop_in_layer_2(self, state, networks, size, stages, **kwargs):
        if stages[0].name == "pretrain_layer_2" and networks[0].index == 1:  # the second candidate's chunk
            raise KeyboardInterrupt
        return real(self, state, networks, size, stages, **kwargs)

    monkeypatch.setattr(ChunkExecutor, "run_stages", stop_in_layer_2)
    with pytest.raises(KeyboardInterrupt):
        run(config, tmp_path / "out", data, 1)
    trained = []

    def counting(self, state, networks, size, stages, **kwargs):
        before = self.network_epochs
        state = real(self, state, networks, size, stages, **kwargs)
        trained.append((stages[0].name, networks[0].index, self.network_epochs - before))
        return state

    monkeypatch.setattr(ChunkExecutor, "run_stages", counting)
    resumed = run(config, tmp_path / "out", data, 1, resume=True)
    # layer 1 of every candidate and layer 2 of the first restored, not trained again
    assert trained[:4] == [("pretrain_layer_1", 0, 0), ("pretrain_layer_1", 1, 0), ("pretrain_layer_1", 2, 0),
                           ("pretrain_layer_2", 0, 0)]
    assert [name for name, _, epochs in trained[4:] if epochs == 0] == []
    assert json.dumps(resumed, sort_keys=True) == json.dumps(per_layer[0], sort_keys=True)


@given(st.lists(st.one_of(st.floats(0, 10), st.just(math.nan), st.just(math.inf)), min_size=1, max_size=6))
def test_the_winner_is_the_first_lowest_finite_error(errors):
    won = layer_choice.layer_winner(errors)
    finite = [e for e in errors if math.isfinite(e)]
    if not finite:
        assert won == 0
    else:
        assert errors[won] == min(finite) and all(not (math.isfinite(e) and e <= errors[won]) for e in errors[:won])


def test_the_flag_is_on_the_command_line_and_a_bad_value_is_refused_naming_it(capsys):
    from sweeps import common, train

    parser = train.build_parser()
    assert "--pretrain-lr-selection" in parser.format_help()
    args = parser.parse_args(["--preset", "quick", "--pretrain-lr-selection", "per_layer", "--pretrain-epochs", "1"])
    preset = common.chosen_preset(args, train.PRESETS, train.SETTINGS)
    assert train.structure(preset, "mnist")["pretrain_lr_selection"] == "per_layer"
    with pytest.raises(SystemExit):
        parser.parse_args(["--pretrain-lr-selection", "greedy"])
    (line,) = capsys.readouterr().err.splitlines()[-1:]
    assert line == ("python -m sweeps.train: error: argument --pretrain-lr-selection: expected one of stack, "
                    "per_layer, got 'greedy'")


def test_the_diagnostic_is_the_summed_cost_table1s_pretrained_half_negated_network_with_the_flag_and_its_grid(
        tmp_path):
    from deep_sparse import results_io
    from sweeps import diagnostics, report_diagnostics, report_tables

    found = diagnostics.by_name()["pretrain-lr-per-layer-half-negated"]
    assert found.cell == ("half_negated_rectifier", True)
    assert found.values("--pretrain-lr-selection") == ("per_layer",)
    # the summed-cost grid in our units, at that table's selected fine-tuning lr and L1
    assert found.table1 == diagnostics.TABLE1_SUMMED
    assert found.values("--pretrain-lr") == ("1", "0.1", "0.01", "0.001")
    assert (found.values("--lr"), found.values("--l1")) == (("0.1",), ("0.0001",))
    # its other candidates are recorded as not fine-tuned: the diagnostic is finished, not 1 of 4
    folder = tmp_path / "results" / report_tables.in_results(diagnostics.folder(found))
    results_io.atomic_write_json(str(folder / "plan.json"), {"grid": [{}, {}, {}, {}]})
    row = {"network": 0, "activation": "half_negated_rectifier", "lr": 0.01, "l1": 0.001, "seed": 0,
           "pretrain_lr": 0.1, "pretrain_epochs": 10, "diverged": False, "dead": False, "valid_error": 0.018,
           "test_error": 0.018, "pretrain_lr_per_layer": [0.01, 0.01, 0.001]}
    results_io.atomic_write_json(str(folder / "results.json"), {"rows": [row], "not_finetuned": [
        dict(row, network=k, pretrain_lr=lr, finetuned=False, valid_error=None, test_error=None)
        for k, lr in ((1, 0.01), (2, 0.001), (3, 0.0001))]})
    finding = report_diagnostics.finding(str(tmp_path / "results"), found, {})
    assert (finding.recorded, finding.planned) == (1, 1) and "so far" not in finding.verdict
