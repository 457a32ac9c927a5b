"""Figure 3 plot: a valid PNG with and without diverged networks."""
import pytest

from deep_sparse import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def rows(n, diverged=()):
    out = []
    for i in range(n):
        bad = i in diverged
        out.append({
            "network": i, "l1": [0.0, 1e-3, 1e-2][i % 3], "sparsity": 0.5 + 0.04 * i,
            "test_error": float("nan") if bad else 0.02 + 0.001 * i, "diverged": bad,
            "curves": {"valid_error": [0.1, 0.05, None if bad else 0.04]},
        })
    return out


def check_png(path):
    payload = path.read_bytes()
    assert payload[:8] == PNG_SIGNATURE
    assert payload[12:16] == b"IHDR"
    assert payload.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("diverged", [(), (1, 4)])
def test_error_vs_sparsity_writes_a_png(tmp_path, diverged):
    path = tmp_path / "figure3.png"
    plots.error_vs_sparsity(rows(6, diverged), str(path))
    check_png(path)


def test_error_vs_sparsity_all_diverged_or_empty(tmp_path):
    plots.error_vs_sparsity(rows(3, diverged=(0, 1, 2)), str(tmp_path / "a.png"))
    check_png(tmp_path / "a.png")
    plots.error_vs_sparsity([], str(tmp_path / "b.png"), knee=None)
    check_png(tmp_path / "b.png")


def test_learning_curves_writes_a_png(tmp_path):
    plots.learning_curves(rows(4, diverged=(2,)), str(tmp_path / "curves.png"))
    check_png(tmp_path / "curves.png")


def test_finish_labels_writes_and_closes(tmp_path):
    figure, axes = plots.new_figure((3, 2))
    axes.plot([1, 2], [3, 4], label="line")
    plots.finish(figure, axes, str(tmp_path / "f.png"), title="t", xlabel="x", ylabel="y")
    assert (axes.get_title(), axes.get_xlabel(), axes.get_ylabel()) == ("t", "x", "y")
    assert axes.get_legend() is not None
    assert figure.number not in plots._pyplot().get_fignums()
    check_png(tmp_path / "f.png")
    figure, axes = plots.new_figure()
    plots.finish(figure, axes, str(tmp_path / "g.png"), legend_fontsize=None)
    assert axes.get_legend() is None
    figure, axes = plots.new_figure()
    plots.finish(figure, axes, str(tmp_path / "h.png"))  # nothing labelled: no empty legend
    assert axes.get_legend() is None
    check_png(tmp_path / "g.png")
