"""What a sweep writes to a terminal and to a log file: a bar only on a terminal, lines beside the bar
never inside it, and quiet meaning quiet."""
import io
import re

import pytest

from deep_sparse import sweep
from deep_sparse.config import TrainConfig
from deep_sparse.progress import Progress
from deep_sparse.sweep import SweepOptions
from sweeps import common, figure3
from test_sweep import make_data

BAR_FRAMES = re.compile(r"\r|it/s|net-epoch/s")
EPOCH_LINE = "finetune epoch"


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a console's stderr does."""

    def isatty(self):
        return True


def test_no_bar_when_stderr_is_not_a_terminal_but_a_line_per_epoch(capsys):
    lines = []
    progress = Progress(4, True, lines.append)
    for epoch in range(4):
        progress.advance(1)
        progress.epoch(f"networks finetune epoch {epoch + 1}")
    progress.close()
    assert not BAR_FRAMES.search(capsys.readouterr().err)  # captured stderr is no terminal, as a log file
    assert lines == [f"networks finetune epoch {epoch}" for epoch in (1, 2, 3, 4)]


def test_lines_beside_a_bar_start_their_own_line(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    progress = Progress(4, True, lambda message: terminal.write(message + "\n"))
    assert not progress.bar.disable  # on a terminal the bar is drawn
    progress.advance(1)
    progress.bar.refresh()
    progress.log("memory: a chunk of 4 networks needs 0.01 GiB")
    progress.close()
    text = terminal.getvalue()
    assert "net-epoch/s" in text and "]memory:" not in text
    assert re.search(r"(^|\r|\n)memory: a chunk", text), text  # at the start of a line, the bar cleared


@pytest.mark.parametrize("mode, lines_expected", [(False, 0), ("lines", 2)])
def test_quiet_prints_nothing_per_epoch_and_lines_never_draw_a_bar(monkeypatch, mode, lines_expected):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    lines = []
    progress = Progress(2, mode, lines.append)
    for epoch in range(2):
        progress.advance(1)
        progress.epoch(f"networks finetune epoch {epoch + 1}")
    progress.close()
    assert len(lines) == lines_expected and terminal.getvalue() == ""


def test_a_sweep_logged_to_a_file_has_no_bar_frames_and_quiet_has_no_epoch_lines(tmp_path, capfd):
    config = TrainConfig(num_classes=3, hidden_sizes=(8,), batch_size=10, epochs=2, patience=None)
    data = make_data(config, n=(40, 20, 20))
    sweep.run(config, [{"seed": 0}], str(tmp_path / "default"), data, options=SweepOptions(checkpoint_every=0))
    out, err = capfd.readouterr()
    assert not BAR_FRAMES.search(err) and out.count(EPOCH_LINE) == 2
    sweep.run(config, [{"seed": 0}], str(tmp_path / "quiet"), data,
              options=SweepOptions(checkpoint_every=0, progress=False))
    out, err = capfd.readouterr()
    assert EPOCH_LINE not in out + err and not BAR_FRAMES.search(err)


def test_the_progress_flags_and_their_help(capsys):
    parser = figure3.build_parser()
    assert [common.progress(parser.parse_args(flags)) for flags in ([], ["--no-progress"], ["--quiet"])] == \
        [True, "lines", False]
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--quiet no progress bar and no line per epoch" in text
    assert "not a terminal" in text
