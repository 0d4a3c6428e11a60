"""Tests of the learned model: it matches scikit-learn, round-trips through JSON, loads without
scikit-learn, and refuses malformed artifacts."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scops_tui.detection.detector import StreamingDetector
from scops_tui.detection.forest import LearnedModel
from tests.detection.helpers import SMALL, trained_model

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_learned_model_matches_scikit_learn() -> None:
    from sklearn.ensemble import IsolationForest

    from scops_tui.detection.features import model_inputs

    model, stamps, rows = trained_model()
    inputs = model_inputs(np.asarray(rows[:600]), np.asarray(stamps[:600]), 5, 20, model.use_time_of_day)
    forest = IsolationForest(n_estimators=20, max_samples=64, random_state=SMALL.random_seed, n_jobs=1).fit(inputs)
    expected = -forest.score_samples(inputs[:200])
    np.testing.assert_allclose(model.raw_scores(inputs[:200]), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose([model.raw_score(x) for x in inputs[:50]], expected[:50], rtol=0, atol=1e-12)


def test_json_round_trip_gives_identical_scores() -> None:
    model, stamps, rows = trained_model()
    restored = LearnedModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert restored.to_dict() == model.to_dict()
    config = replace(SMALL, auto_train=False)
    first = StreamingDetector(3, config, model=model)
    second = StreamingDetector(3, config, model=restored)
    for t, r in zip(stamps[600:], rows[600:], strict=True):
        assert first.score(t, r) == second.score(t, r)


def test_loading_and_scoring_a_model_never_imports_scikit_learn(tmp_path: Path) -> None:
    model, _, _ = trained_model()
    model_file = tmp_path / "model.json"
    model_file.write_text(json.dumps(model.to_dict()))
    script = f"""
import json, sys
from scops_tui.detection.config import DetectorConfig
from scops_tui.detection.detector import StreamingDetector
from scops_tui.detection.forest import LearnedModel
assert "sklearn" not in sys.modules and "scipy" not in sys.modules, "import of detector pulled them in"
model = LearnedModel.from_dict(json.load(open({str(model_file)!r})))
detector = StreamingDetector(3, DetectorConfig(auto_train=False), model=model)
for i in range(50):
    detector.score(i * 300000, [40.0 + i % 3, 41.0, 39.0])
print("sklearn" in sys.modules, "scipy" in sys.modules, "pickle" in sys.modules and "used" or "")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split()[:2] == ["False", "False"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("left"), "left"),
        (lambda d: d.update(format="pickle"), "format"),
        (lambda d: d.update(version=99), "version"),
        (lambda d: d.update(n_features="3"), "n_features"),
        (lambda d: d.update(threshold=d["threshold"][:-1]), "equal lengths"),
        (lambda d: d["threshold"].__setitem__(0, "x"), "threshold"),
        (lambda d: d["feature"].__setitem__(0, 10_000), "feature index"),
        (lambda d: d["left"].__setitem__(1, 0), "child index"),
        (lambda d: d.update(roots=[]), "no trees"),
        (lambda d: d.update(use_time_of_day=1), "use_time_of_day"),
    ],
)
def test_invalid_model_dicts_are_rejected(change: object, message: str) -> None:
    model, _, _ = trained_model()
    data = json.loads(json.dumps(model.to_dict()))
    change(data)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        LearnedModel.from_dict(data)
