"""sweeps.campaign (issue 15): steps run in order into their folders, a fresh clone (finished chunks
committed, checkpoints gone) continues a half-finished step without recomputing what is recorded, and a
later step takes the networks it shares with an earlier one."""
import json
import os
import shutil

import pytest

from sweeps import campaign, common

TINY = campaign.Step(
    "tiny Shapeset sweep", "sweeps.train",
    ("--dataset", "shapeset", "--hidden-sizes", "8", "--epochs", "2", "--train-size", "200", "--valid-size", "100",
     "--test-size", "100", "--lr", "0.1", "0.05", "--chunk-size", "1"),
    "results/tiny")


@pytest.mark.integration
def test_a_fresh_clone_continues_from_the_committed_chunks(tmp_path):
    logs = []
    assert campaign.run([TINY], budget_minutes=30, root=str(tmp_path), log=logs.append) == 0
    out = tmp_path / "results" / "tiny"
    first = json.loads((out / "results.json").read_text())["rows"]
    assert campaign.standing(TINY, str(tmp_path)) == "results/tiny: 2 of 2 networks recorded"
    assert [r["lr"] for r in first] == [0.1, 0.05]
    # What a fresh clone holds: no checkpoints (git ignores them), and here the second network unfinished.
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    os.remove(out / "chunks" / "group000_networks_00001-00001.json")
    assert campaign.standing(TINY, str(tmp_path)) == "results/tiny: 1 of 2 networks recorded"
    assert campaign.run([TINY], budget_minutes=30, root=str(tmp_path), log=logs.append) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["timings"]["groups"][0]["networks"] == 1  # only the unfinished network was trained
    assert again["rows"][0] == first[0]  # the recorded one is kept as it was
    assert again["rows"][1]["test_error"] == first[1]["test_error"]  # the same program gives the same result

    # a later step takes the networks it shares with this one instead of training them again
    later = TINY._replace(name="tiny, lr 0.02 and 0.05", arguments=tuple(
        "0.02" if a == "0.1" else a for a in TINY.arguments), out="results/later", reuse=("results/tiny",))
    assert campaign.run([later], budget_minutes=30, root=str(tmp_path), log=logs.append) == 0
    taken = json.loads((tmp_path / "results" / "later" / "results.json").read_text())
    assert [r["lr"] for r in taken["rows"]] == [0.02, 0.05]
    assert taken["rows"][1]["reused_from"].endswith("results/tiny: network 1")
    assert taken["rows"][1]["test_error"] == first[1]["test_error"]
    assert taken["timings"]["groups"][0]["networks"] == 1  # only lr 0.02 was trained


def test_no_step_starts_without_time_for_it(tmp_path):
    logs = []
    assert campaign.run([TINY], budget_minutes=campaign.MIN_STEP_MINUTES / 2, root=str(tmp_path),
                        log=logs.append) == campaign.EXIT_DEADLINE
    assert not (tmp_path / "results").exists() and "not starting" in logs[0]
    assert campaign.standing(TINY, str(tmp_path)) == "not started"


def test_commands_resume_and_pass_the_budget_on(tmp_path):
    root = str(tmp_path)
    line = campaign.command(TINY, 12.34, python="python", chunk_size=1, root=root)
    assert line[:3] == ["python", "-m", "sweeps.train"]
    assert line[line.index("--out") + 1] == f"{root}/results/tiny"
    assert "--resume" in line and line[line.index("--budget-minutes") + 1] == "12.3"
    assert campaign.main(["--list"]) == 0
    donors = TINY._replace(reuse=("results/a", "results/b", "results/c"))
    assert "--reuse-rows-from" not in campaign.command(donors, None, python="python", root=root)
    for ran in ("a", "c"):  # a sweep folder has a plan.json; b has not run yet and is left out
        (tmp_path / "results" / ran).mkdir(parents=True)
        (tmp_path / "results" / ran / "plan.json").write_text("{}")
    taking = campaign.command(donors, None, python="python", root=root)
    assert taking[taking.index("--reuse-rows-from"):] == ["--reuse-rows-from", f"{root}/results/a", f"{root}/results/c"]


def test_standing_counts_each_data_sets_recorded_networks(tmp_path):
    step = TINY._replace(out="results/table")
    for dataset, recorded in (("mnist", [0, 1]), ("shapeset", [])):
        folder = tmp_path / "results" / "table" / dataset
        (folder / "chunks").mkdir(parents=True)
        (folder / "plan.json").write_text(json.dumps({"grid": [{"lr": 0.1}, {"lr": 0.01}, {"lr": 0.001}]}))
        for network in recorded:
            (folder / "chunks" / f"group000_networks_{network:05d}-{network:05d}.json").write_text(
                json.dumps({"rows": [{"network": network}]}))
    assert campaign.standing(step, str(tmp_path)) == ("mnist: 2 of 3 networks recorded; "
                                                      "shapeset: 0 of 3 networks recorded")


def test_diagnostics_follow_the_table1_paper_preset_but_for_their_named_change():
    # A diagnostic is Table 1's network with one change: its supervised procedure must be the preset's.
    from sweeps import diagnostics, table1, train
    paper = table1.PRESETS["paper"]
    for step in campaign.DIAGNOSTIC_STEPS:
        args = train.build_parser().parse_args([*step.arguments, "--out", step.out])
        ran = common.chosen_preset(args, train.PRESETS, train.SETTINGS)  # flags are lists where a sweep makes sense
        assert (ran.datasets, ran.hidden_sizes, ran.batch_size, ran.epochs, ran.patience) \
            == (("mnist",), paper.hidden_sizes, 10, paper.epochs, paper.patience), step.name
        assert ran.pretrain_epochs in (0, paper.pretrain_epochs) and ran.noise_level == (paper.noise_level,)
        assert step.out.startswith(diagnostics.FOLDER + "/") \
            and step.reuse[0] == diagnostics.by_name()[campaign.step_key(step)].table1_mnist
        assert {folder.rsplit("/", 1)[1] for folder in step.reuse[1:]} <= set(diagnostics.by_name())
    assert len({campaign.step_key(step) for step in campaign.DIAGNOSTIC_STEPS}) == len(campaign.DIAGNOSTIC_STEPS)


def test_only_selects_steps_by_folder_and_refuses_an_unknown_one(capsys):
    assert campaign.main(["--diagnostics", "--only", "seeds-tanh", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "results/diagnostics/seeds-tanh" in listed and "seeds-softplus" not in listed
    with pytest.raises(SystemExit):
        campaign.main(["--diagnostics", "--only", "no-such-step", "--list"])
    assert "unknown step no-such-step" in capsys.readouterr().err
