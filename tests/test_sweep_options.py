"""SweepOptions: every run option is checked when the options are made, in one line naming the field."""
import dataclasses

import pytest

from deep_sparse.sweep_options import SweepOptions


@pytest.mark.parametrize("fields,message", [
    (dict(chunk_size=0), "chunk_size must be a positive integer or None, got 0"),
    (dict(checkpoint_every=-1), "checkpoint_every must be >= 0, got -1"),
    (dict(checkpoint_seconds=float("nan")), "checkpoint_seconds must be >= 0, got nan"),
    (dict(deadline="soon"), "deadline must be a time.time() value or None, got 'soon'"),
    (dict(batching="pmap"), "batching must be one of auto, vmap, map, got 'pmap'"),
    (dict(progress="bar"), "progress: expected True, False or 'lines', got 'bar'"),
    (dict(reuse_rows_from="results/table1"), "reuse_rows_from must be a sequence of folders, got the string"),
    (dict(select_pretrain_lr=("lr",)), "select_pretrain_lr: 'lr' cannot tell settings apart"),
])
def test_a_bad_option_is_one_line_naming_its_field(fields, message):
    with pytest.raises(ValueError) as error:
        SweepOptions(**fields)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_sequences_are_kept_as_tuples_and_the_options_are_frozen():
    options = SweepOptions(argv=["-m", "sweeps.train"], reuse_rows_from=["a", "b"], select_pretrain_lr="l1")
    assert options.argv == ("-m", "sweeps.train") and options.reuse_rows_from == ("a", "b")
    assert options.select_pretrain_lr == ("l1",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.resume = True
    assert dataclasses.replace(options, resume=True).resume and not options.resume


def test_the_defaults_train_everything_from_scratch_with_a_bar():
    options = SweepOptions()
    assert (options.resume, options.chunk_size, options.devices, options.batching) == (False, None, None, "auto")
    assert (options.checkpoint_every, options.checkpoint_seconds, options.deadline) == (1, 0.0, None)
    assert (options.progress, options.select_pretrain_lr, options.reuse_rows_from) == (True, None, ())
