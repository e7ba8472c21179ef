"""Issue 17, item 5: what validation needs is checked before the first step, and a failing
validation never costs the epoch's checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from posekit.cli import main

BROKEN_METRIC = '''
class BrokenMetric:
    """A metric whose evaluation fails: the fault injected into validation."""

    def __init__(self) -> None:
        self.dataset_meta = None

    def process(self, results) -> None:
        pass

    def evaluate(self) -> dict:
        raise RuntimeError("the evaluation server is down")
'''


def test_a_missing_annotation_file_fails_before_the_first_step(
    tiny: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "annotations" / "person_keypoints_val2017.json"
    cfg = tiny.config(
        tmp_path / "run",
        evaluator=[{"type": "CocoMetric", "ann_file": str(missing)}],
        hooks__checkpoint__save_best=None,
    )
    assert main(["train", str(tiny.write(tmp_path / "cfg.json", cfg))]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "scalars.jsonl").exists() or not (tmp_path / "run" / "scalars.jsonl").read_text()
    assert not list((tmp_path / "run").glob("*.pth"))


def test_a_failing_validation_keeps_the_epochs_checkpoint(
    tiny: Any, throwaway: Callable[..., Path], tmp_path: Path
) -> None:
    throwaway("posekit-broken-metric", {"posekit.metrics": {"BrokenMetric": "broken_metric:BrokenMetric"}},
              modules={"broken_metric": BROKEN_METRIC})  # fmt: skip
    cfg = tiny.config(
        tmp_path / "run", evaluator=[{"type": "BrokenMetric"}], hooks__checkpoint__save_best=None, train__epochs=1
    )
    with pytest.raises(RuntimeError, match="evaluation server is down"):
        tiny.train(cfg)
    ckpt = tiny.load(tmp_path / "run" / "epoch_1.pth")
    assert ckpt["loop"]["epoch_done"] and ckpt["loop"]["iteration"] == 6
