"""Per-epoch metrics of a sweep, written as they are produced, in two forms that existing viewers read:

- ``metrics.jsonl`` in the sweep's folder: one JSON object a line, one line per network per epoch
  (``pandas.read_json(path, lines=True)``, ``jq``, :func:`deep_sparse.results.curves`);
- TensorBoard event files under ``tensorboard/``, one run per network (``tensorboard/network_00003/``)
  so that each chart overlays the sweep's networks: ``tensorboard --logdir OUT/tensorboard``.

A line holds ``network``, ``group``, ``stage`` (``pretrain_layer_N`` or ``finetune``), ``epoch`` (1-based,
within the stage), ``time`` (Unix seconds) and the values the network's curves record for that epoch
(:class:`deep_sparse.train.Curves`, same names): ``train_loss``, ``valid_error``, ``valid_sparsity`` when
fine-tuning, ``pretrain_loss``, ``pretrain_valid_loss`` when pre-training (null where not finite). A
pre-trained stack shared by several fine-tuning learning rates is logged once, under the network that
represents it.

Writes only append, so that a killed run keeps every line written: a whole epoch's lines are one
``write`` to a file opened for appending. A resumed sweep recomputes, bitwise, the epochs after its
last checkpoint; those already logged are not logged again (each network, stage and epoch once). A line
cut short by a crash is dropped when the file is next opened. Files get the modes the umask gives.
This module owns these files and computes nothing (the executor hands it the values).
"""
from __future__ import annotations

import itertools
import json
import math
import os
import time
from typing import Mapping, Optional

from tensorboardX.proto import event_pb2
from tensorboardX.proto.summary_pb2 import Summary
from tensorboardX.record_writer import RecordWriter

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_FOLDER = "tensorboard"
KEY_FIELDS = ("network", "group", "stage", "epoch", "time")
_LOGS = itertools.count()  # the MetricsLogs of this process, numbered


class _AppendingRecords(RecordWriter):
    """tensorboardX's record framing (length, CRC32C) onto a file opened for appending; flushed to the
    system (a killed process keeps it) without an fsync per epoch."""

    def __init__(self, path: str):  # not super().__init__, which opens the file anew (truncated)
        self.path = path
        self._writer = open(path, "ab")

    def flush(self) -> None:
        self._writer.flush()


def _finite_or_none(value: float) -> Optional[float]:
    value = float(value)
    return value if math.isfinite(value) else None


class MetricsLog:
    """The per-epoch metrics files of the sweep in ``out_dir``; nothing is written before the first
    :meth:`write` (a start refused before its first epoch leaves no file). ``groups``: each network's
    group; ``primary``: whether this process writes (the others of a multi-process sweep compute the
    same values and write nothing); ``tensorboard``: also write TensorBoard event files."""

    def __init__(self, out_dir: str, groups: Mapping[int, int], primary: bool = True, tensorboard: bool = True):
        self.path = os.path.join(out_dir, METRICS_FILE)
        self.tensorboard_dir = os.path.join(out_dir, TENSORBOARD_FOLDER)
        self.groups = dict(groups)
        self.primary = primary
        self.tensorboard = tensorboard
        self._fd: Optional[int] = None
        self._logged: dict[tuple[int, str], int] = {}  # (network, stage) -> last epoch in the file
        self._event_files: dict[int, str] = {}  # network -> this log's event file
        # TensorBoard reads every file named *tfevents* of a run: one per log that wrote it, so that a
        # sweep resumed within the same second and process (a test, a notebook) gets a file of its own
        self._event_name = f"{int(time.time()):010d}.deep-sparse.{os.getpid()}.{next(_LOGS)}"

    def write(self, stage: str, latest: Mapping[int, tuple[int, Mapping[str, float]]]) -> None:
        """Log, for each network of ``latest`` (``{network: (epoch, {name: value})}``, a chunk's networks
        after an epoch of ``stage``), its epoch unless already logged (a stopped network, an epoch
        recomputed after a resume)."""
        if not self.primary:
            return
        self._open()
        now = round(time.time(), 3)
        lines = []
        for network, (epoch, values) in sorted(latest.items()):
            if epoch < 1 or self._logged.get((network, stage), 0) >= epoch:
                continue
            self._logged[(network, stage)] = epoch
            lines.append({"network": network, "group": self.groups.get(network), "stage": stage, "epoch": epoch,
                          "time": now, **{name: _finite_or_none(v) for name, v in values.items()}})
        if not lines:
            return
        os.write(self._fd, "".join(json.dumps(line) + "\n" for line in lines).encode())
        if self.tensorboard:
            for line in lines:
                self._write_events(line)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open(self) -> None:
        if self._fd is not None:
            return
        for line in read_lines(self.path, repair=True):
            key = (line["network"], line["stage"])
            self._logged[key] = max(self._logged.get(key, 0), line["epoch"])
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def _write_events(self, line: dict) -> None:
        """The values of ``line`` as one event of scalars (tag ``stage/name``, step the epoch) in the
        network's run, appended to this process's event file of it."""
        network = line["network"]
        path = self._event_files.get(network)
        new = path is None
        if new:
            folder = os.path.join(self.tensorboard_dir, f"network_{network:05d}")
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, f"events.out.tfevents.{self._event_name}")
            self._event_files[network] = path
        records = _AppendingRecords(path)
        try:
            if new:
                records.write(event_pb2.Event(wall_time=line["time"], file_version="brain.Event:2").SerializeToString())
            # what tensorboardX's summary.scalar makes of a float, without its array checks (40 us a value)
            values = [Summary.Value(tag=f"{line['stage']}/{name}", simple_value=value)
                      for name, value in line.items() if name not in KEY_FIELDS and value is not None]
            records.write(event_pb2.Event(wall_time=line["time"], step=line["epoch"],
                                          summary=Summary(value=values)).SerializeToString())
            records.flush()
        finally:
            records.close()


def read_lines(path: str, repair: bool = False) -> list[dict]:
    """The lines of a ``metrics.jsonl``; [] where there is none. A last line without its newline (cut
    short by a crash) is left out, and with ``repair`` cut from the file; another line that does not
    parse raises ValueError naming the file and line."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as file:
        payload = file.read()
    complete = payload.rfind(b"\n") + 1
    if repair and complete < len(payload):
        os.truncate(path, complete)
    lines = []
    for number, text in enumerate(payload[:complete].decode().splitlines(), 1):
        try:
            line = json.loads(text)
            if not all(field in line for field in ("network", "stage", "epoch")):
                raise ValueError("no network, stage or epoch")
        except ValueError as error:
            raise ValueError(f"{path}, line {number}: expected a JSON object with network, stage and epoch "
                             f"({error})") from None
        lines.append(line)
    return lines

