"""A tiny InterHand2.6M-format dataset built from the shared OneHand10K images (``interhand_root``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

HAND_TYPES = ("right", "left", "interacting", "interacting")
FOCAL = 500.0


@pytest.fixture(scope="session")
def interhand_root(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``annotations/{data,camera,joint_3d}.json`` and ``images/`` for the 4 OneHand10K test images.

    Each image's 21 labelled keypoints are both hands (the left shifted 5 px), lifted to camera
    space at depths 480-520 mm through one camera (focal 500, principal point the image centre);
    the second image's left wrist is not valid.
    """
    src = shared / "data" / "onehand10k"
    coco = json.loads((src / "test_onehand10k.json").read_text())
    root = tmp_path_factory.mktemp("interhand")
    (root / "images").mkdir()
    (root / "annotations").mkdir()
    rng = np.random.default_rng(0)
    images, anns, cameras, joints = [], [], {}, {}
    for i, (img, ann) in enumerate(zip(coco["images"], coco["annotations"], strict=True)):
        shutil.copy(src / img["file_name"], root / "images" / img["file_name"])
        pixels = np.array(ann["keypoints"], np.float64).reshape(21, 3)[:, :2]
        pixels = np.concatenate([pixels, pixels + 5.0])
        depth = 500.0 + rng.uniform(-20, 20, 42)
        centre = np.array([img["width"], img["height"]]) / 2
        world = np.concatenate([(pixels - centre) / FOCAL * depth[:, None], depth[:, None]], 1)
        capture = str(i)
        cameras[capture] = {
            "campos": {"cam0": [0.0, 0.0, 0.0]},
            "camrot": {"cam0": np.eye(3).tolist()},
            "focal": {"cam0": [FOCAL, FOCAL]},
            "princpt": {"cam0": centre.tolist()},
        }
        joints[capture] = {"0": {"world_coord": world.tolist()}}
        valid = np.ones(42)
        valid[41] = 0 if i == 1 else 1
        images.append({**img, "capture": i, "camera": "cam0", "frame_idx": 0})
        anns.append(
            {
                "id": ann["id"],
                "image_id": img["id"],
                "bbox": ann["bbox"],
                "joint_valid": valid.reshape(42, 1).tolist(),
                "hand_type": HAND_TYPES[i],
                "hand_type_valid": 1,
            }
        )
    for name, data in (("data", {"images": images, "annotations": anns}), ("camera", cameras), ("joint_3d", joints)):
        (root / "annotations" / f"{name}.json").write_text(json.dumps(data))
    return root
