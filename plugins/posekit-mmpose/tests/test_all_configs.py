"""Every MMPose config in ``../shared/mmpose-configs/``: converted, checked (all sections) and built.

A config whose model needs a component posekit lacks is reported by that component's name (not a
pass, not a failure). Each converted one goes through ``posekit config check`` (the experiment
schema, data and evaluator included: what those name and posekit lacks is reported the same way)
and its model is built on the meta device (shapes only, no memory, no forward). Prints the counts;
every converted config's data and evaluator sections must validate.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import torch
from posekit_mmpose.convert import MissingComponentError, to_experiment
from posekit_mmpose.pyconfig import read_config

import posekit
from posekit.errors import ConfigError


def _configs(shared: Path) -> list[Path]:
    root = shared / "mmpose-configs"
    if not root.is_dir():
        pytest.skip(f"{root} is absent (MMPose's configs are a shared fixture, not part of the project)")
    return sorted(p for p in root.rglob("*.py") if "_base_" not in p.relative_to(root).parts)


#: configs refused for a gap posekit knows of (a substring of the refusal -> the gap), reported by name
KNOWN_GAPS: dict[str, str] = {}


def test_every_mmpose_config(shared: Path) -> None:
    from posekit.registry import build

    configs = _configs(shared)
    missing_model: collections.Counter[str] = collections.Counter()
    missing_data: collections.Counter[str] = collections.Counter()
    other: collections.Counter[str] = collections.Counter()
    converted = data_complete = built = lacking = 0
    failures: list[str] = []
    for path in configs:
        try:  # to_experiment ends with what `posekit config check` runs (validate_experiment)
            experiment, problems = to_experiment(read_config(path), str(path), partial=True)
        except MissingComponentError as e:
            missing_model.update({f"{kind} {name}" for kind, name, _ in e.components})
            lacking += 1
            continue
        except ConfigError as e:  # refused by config check: collected, the counts still print
            gap = next((g for key, g in KNOWN_GAPS.items() if key in str(e)), None)
            if gap is not None:
                missing_model[gap] += 1
                lacking += 1
                continue
            failures.append(f"{path}: config check: {' '.join(str(e).split())[:300]}")
            continue
        converted += 1
        fatal = [p for p in problems if p.fatal]
        missing_data.update({p.component for p in fatal if p.component})
        other.update({f"[{p.section}] {p.reason.split(':')[0][:70]}" for p in fatal if not p.component})
        data_complete += not any(p.section in ("data", "evaluator") for p in fatal)
        try:
            with torch.device("meta"):
                build("estimator", posekit.interop.clean_model_dict(experiment["model"], drop_pretrained=True))
            built += 1
        except Exception as e:  # collected, so one report lists every config that fails
            failures.append(f"{path}: {type(e).__name__}: {' '.join(str(e).split())[:300]}")
    print(f"\n{len(configs)} MMPose configs: {converted} convert and pass config check, {built} build")
    print(f"  {len([f for f in failures if ': config check: ' in f])} convert but fail config check")
    print(f"  {data_complete} of them with every data and evaluator section converted")
    print(f"  {lacking} need a model component (or definition) posekit lacks:")
    for name, count in missing_model.most_common():
        print(f"    {count:4d}  {name}")
    print("  data/evaluator components posekit lacks (configs):")
    for name, count in missing_data.most_common():
        print(f"    {count:4d}  {name}")
    print("  other parts left out (configs):")
    for name, count in other.most_common():
        print(f"    {count:4d}  {name}")
    assert not failures, "converted configs that fail config check or do not build:\n" + "\n".join(failures)
    assert converted > 0
    assert data_complete == converted, "every converted config's data and evaluator sections validate (see above)"
