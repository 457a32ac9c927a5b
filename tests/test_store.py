"""The sweep store: the chunk size its pre-trained stacks were trained in, and which recorded plan is
the sweep asked for."""
import dataclasses
import json
import os

import pytest

from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.store import STACK_CHUNK_SIZE, SweepStore
from fakes import modes


def test_the_stack_chunk_size_is_read_back_as_recorded(tmp_path):
    store = SweepStore(str(tmp_path))
    assert store.stack_chunk_size(3) is None
    store.record_stack_chunk_size(3, 4)
    assert store.stack_chunk_size(3) == 4
    assert store.stack_chunk_size(2) is None


@pytest.mark.parametrize("content", [{}, {"chunk_size": "4"}, {"chunk_size": 0}, {"chunk_size": True}, [4]])
def test_a_malformed_stack_chunk_size_file_is_named_in_one_line(tmp_path, content):
    store = SweepStore(str(tmp_path))
    store.record_stack_chunk_size(0, 2)
    path = os.path.join(store.pretrained_dir(0), STACK_CHUNK_SIZE)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(content, handle)
    with pytest.raises(ValueError, match=r"stack_chunk_size\.json: expected"):
        store.stack_chunk_size(0)


def test_a_sweep_recorded_before_a_config_field_existed_is_still_the_same_sweep(tmp_path):
    # Every recorded folder predates the newest fields; its networks computed with their defaults.
    record = {"config": dataclasses.asdict(TrainConfig()), "grid": {"lr": [0.1]}, "base_hparams": Hparams()._asdict()}
    record = json.loads(json.dumps(record))
    old = json.loads(json.dumps(record))
    del old["config"]["output_layer_init"], old["base_hparams"]["alpha"]
    (tmp_path / "plan.json").write_text(json.dumps(old))
    defaults = {"config": dataclasses.asdict(TrainConfig()), "base_hparams": Hparams()._asdict()}
    assert SweepStore(str(tmp_path)).holds(record, resume=True, defaults=defaults)
    changed = json.loads(json.dumps(record))
    changed["config"]["output_layer_init"] = "zeros"
    with pytest.raises(ValueError, match="the config of the sweep there differs"):
        SweepStore(str(tmp_path)).holds(changed, resume=True, defaults=defaults)


def test_every_file_of_the_store_follows_the_umask(tmp_path, umask_022):
    store = SweepStore(str(tmp_path / "sweep"))
    store.create({"config": {}, "grid": [{}], "base_hparams": {}}, started_before=False)
    store.save_chunk("group000-chunk000", [{"network": 0, "group": 0, "seed": 0}])
    store.record_chunk_size(0, 1)
    store.record_stack_chunk_size(0, 1)
    store.write_results({0: {"network": 0, "group": 0, "seed": 0}}, {}, {}, 0.0, complete=True)
    found = modes(tmp_path / "sweep")
    assert {path for path, mode in found.items() if mode not in (0o644, 0o755)} == set(), found
