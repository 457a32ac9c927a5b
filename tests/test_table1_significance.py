"""Table 1's McNemar tests are recorded and reused for the same pair of selected networks."""
import numpy as np

from sweeps import table1


def test_a_recorded_test_is_not_retrained(tmp_path, monkeypatch):
    calls = []

    def fake_errors(config, row, data):
        calls.append(row["network"])
        rng = np.random.default_rng(row["network"])
        return rng.random(100) < 0.1, 0.1

    monkeypatch.setattr(table1, "per_example_errors", fake_errors)

    class Config:
        def replace(self, **changes):
            return self

    row = {"diverged": False, "test_error": 0.1, "pretrain_epochs": 0}
    chosen = {("tanh", True): dict(row, network=5), ("tanh", False): dict(row, network=1)}
    preset = table1.PRESETS["tiny"].with_overrides(activations=["tanh"])
    path = str(tmp_path / "significance.json")
    first = table1.significance_tests(Config(), preset, chosen, None, path)
    assert calls == [5, 1] and first["tanh"]["networks"] == [5, 1]
    again = table1.significance_tests(Config(), preset, chosen, None, path)
    assert calls == [5, 1] and again == first
    chosen[("tanh", False)] = dict(row, network=2)  # another selection: tested anew
    table1.significance_tests(Config(), preset, chosen, None, path)
    assert calls == [5, 1, 5, 2]
