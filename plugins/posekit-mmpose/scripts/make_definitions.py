"""Write MMPose's keypoint definitions as posekit YAML files (run by hand, never by CI).

    python plugins/posekit-mmpose/scripts/make_definitions.py ../shared/mmpose-configs/_base_/datasets

Reads every ``<name>.py`` with posekit-mmpose's safe evaluator (nothing is executed), validates
its ``dataset_info`` with posekit's schema, and writes ``src/posekit_mmpose/definitions/<name>.yaml``
for each name the core does not register itself (for those it reports whether the core's copy
agrees). Prints the ``[project.entry-points."posekit.metainfo"]`` lines for pyproject.toml.

Two faults of MMPose's own files are read as MMPose reads them, and said in the file's header: a
``swap`` its partner does not return (``one_way_swaps: true``), and ``joint_weights`` of another
length than the keypoints (left out, so all 1.0: MMPose uses them only with
``use_dataset_keypoint_weights``, where such a file fails).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from posekit_mmpose.pyconfig import read_config

from posekit.errors import ConfigError
from posekit.metainfo import load_metainfo, validate_metainfo
from posekit.registry import entries

OUT = Path(__file__).resolve().parents[1] / "src/posekit_mmpose/definitions"
CORE = Path(__file__).resolve().parents[3] / "core/posekit/metainfo"


def plain(value: object) -> object:
    """Tuples as lists, recursively (YAML without Python tags)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def write(out: Path, info: dict, num: int, source: str, notes: list[str]) -> None:
    header = f"# {out.stem}: {num} keypoints, from MMPose's configs/_base_/datasets/{source}\n"
    header += "".join(f"# {note}\n" for note in notes)
    parts = []
    for key, value in plain(info).items():
        if key in ("keypoint_info", "skeleton_info") and value:  # one line per keypoint / link
            lines = (
                f"  {k}: {yaml.safe_dump(v, default_flow_style=True, sort_keys=False, width=10**6).strip()}\n"
                for k, v in value.items()
            )
            parts.append(f"{key}:\n{''.join(lines)}")
        else:
            flow = None if isinstance(value, (dict, list)) else False  # `key: value`, lists and dicts inline
            parts.append(yaml.safe_dump({key: value}, default_flow_style=flow, sort_keys=False, width=10**6))
    out.write_text(header + "".join(parts), encoding="utf-8")


def read_as_mmpose(info: dict) -> list[str]:
    """Mend ``info`` in place where MMPose's file is inconsistent but MMPose reads it anyway; what was done."""
    notes = []
    specs = [s for s in info.get("keypoint_info", {}).values() if isinstance(s, dict)]
    swaps = {s.get("name"): s.get("swap", "") for s in specs}
    one_way = [n for n, partner in swaps.items() if partner not in ("", n) and swaps.get(partner) != n]
    if one_way:
        info["one_way_swaps"] = True
        notes.append(f"MMPose's file flips {', '.join(one_way)} one way only: one_way_swaps reads it as MMPose does")
    weights = info.get("joint_weights")
    if isinstance(weights, (list, tuple)) and len(weights) != len(specs):
        del info["joint_weights"]
        notes.append(
            f"MMPose's file lists {len(weights)} joint_weights for {len(specs)} keypoints: left out (all 1.0), "
            "as MMPose uses them only with use_dataset_keypoint_weights, where the file fails"
        )
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="MMPose's configs/_base_/datasets")
    parser.add_argument("--update-core", action="store_true", help="rewrite the core's copies that differ")
    args = parser.parse_args()
    core = {e.name for e in entries("metainfo") if e.dist == "posekit"}
    lines = []
    for path in sorted(args.folder.glob("*.py")):
        info = read_config(path).get("dataset_info")
        if not isinstance(info, dict):
            print(f"{path}: no dataset_info", file=sys.stderr)
            continue
        for key, spec in info.get("keypoint_info", {}).items():
            if isinstance(spec, dict) and spec.get("id", key) != key:  # MMPose reads the key, never the id
                print(
                    f"{path.stem}: keypoint {key} ({spec.get('name')}) says id {spec['id']}; written as {key}",
                    file=sys.stderr,
                )
                spec["id"] = key
        notes = read_as_mmpose(info)
        try:
            definition = validate_metainfo(plain(info), str(path))
        except ConfigError as e:
            print(f"skipped: {e}", file=sys.stderr)
            continue
        if path.stem in core:
            same = load_metainfo(path.stem).model_dump() == definition.model_dump()
            print(f"{path.stem}: the core's copy {'agrees' if same else 'DIFFERS'}", file=sys.stderr)
            if not same and args.update_core:
                write(CORE / f"{path.stem}.yaml", info, definition.num_keypoints, path.name, notes)
            continue
        write(OUT / f"{path.stem}.yaml", info, definition.num_keypoints, path.name, notes)
        lines.append(f'{path.stem} = "posekit_mmpose.definitions:dataset_{path.stem}"')
    print("\n".join(lines), file=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
