"""Synthetic COCO-format keypoint datasets of rendered figures.

:func:`render_scene` draws one image: a textured background, one to three figures
(:mod:`posekit_synthetic.figures`) in depth order, and occluders. It returns the image,
a label map of who owns each pixel, and COCO annotations whose visibility flags follow
the rendering: 0 outside the image, 1 hidden (by an occluder, another figure, or the
head itself for a face point turned away), 2 visible. :func:`write_coco_dataset` writes
the MMPose/COCO layout::

    OUT/annotations/person_keypoints_{train,val}2017.json
    OUT/{train,val}2017/000000000001.jpg ...

Each image is drawn from its own generator seeded by ``(seed, split, index)``, so output
is deterministic and any image can be regenerated alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from posekit_synthetic.figures import K, draw_figure, sample_figure

OCCLUDER = 255  # label of occluder pixels (figures are 1..N, background 0)

COCO_KEYPOINTS = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# 1-based, as in COCO's person category
COCO_SKELETON = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
    (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip
SPLITS = {"train": 0, "val": 1}


@dataclass
class Scene:
    """One rendered image and its instances.

    ``image`` (H, W, 3) uint8 BGR; ``labels`` (H, W) uint8: 0 background, i + 1 the
    i-th instance, 255 an occluder; ``keypoints`` (N, 17, 2) float32 image pixels;
    ``visible`` (N, 17) uint8 COCO flags; ``bboxes`` (N, 4) xywh of each figure's
    silhouette inside the image (before occlusion); ``areas`` (N,) its pixel count.
    """

    image: np.ndarray
    labels: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    bboxes: np.ndarray
    areas: np.ndarray


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    g = int(rng.integers(2, 9))
    img = cv2.resize(rng.integers(0, 256, (g, g, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    kind = int(rng.integers(0, 4))
    if kind in (1, 2):  # stripes or checks blended with a second colour
        c2 = rng.integers(0, 256, 3).astype(np.float32)
        period = rng.uniform(6, 48)
        a = rng.uniform(0, math.pi)
        xs, ys = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)[:, None]
        wave = np.sin((xs * math.cos(a) + ys * math.sin(a)) * np.float32(2 * math.pi / period))
        if kind == 2:
            wave = wave * np.sin((xs * -math.sin(a) + ys * math.cos(a)) * np.float32(2 * math.pi / period))
        alpha = (np.float32(rng.uniform(0.3, 0.8)) * (wave > 0))[..., None]
        img = (img * (1 - alpha) + c2 * alpha).astype(np.uint8)
    elif kind == 3:  # clutter: lines, rings, boxes
        for _ in range(int(rng.integers(4, 16))):
            color = tuple(int(v) for v in rng.integers(0, 256, 3))
            p = rng.uniform(0, 1, 4) * (w, h, w, h)
            t = int(rng.integers(1, 6))
            shape = rng.integers(0, 3)
            if shape == 0:
                cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), color, t, cv2.LINE_AA)
            elif shape == 1:
                cv2.circle(img, (int(p[0]), int(p[1])), int(rng.uniform(3, 0.2 * w)), color, t, cv2.LINE_AA)
            else:
                cv2.rectangle(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), color, t)
    return img


def _occluder(rng: np.random.Generator, img: np.ndarray, labels: np.ndarray, at: np.ndarray, size: float) -> None:
    color = tuple(int(v) for v in rng.integers(0, 256, 3))
    kind = int(rng.integers(0, 3))
    cx, cy = float(at[0]), float(at[1])
    if kind == 0:  # rotated box
        box = cv2.boxPoints(
            ((cx, cy), (size * rng.uniform(0.3, 1.0), size * rng.uniform(0.3, 1.0)), rng.uniform(0, 180))
        )
        pts = np.round(box * 16).astype(np.int32)
        cv2.fillConvexPoly(img, pts, color, cv2.LINE_AA, 4)
        cv2.fillConvexPoly(labels, pts, OCCLUDER, cv2.LINE_8, 4)
    elif kind == 1:  # ellipse
        axes = (max(1, int(size * rng.uniform(0.15, 0.5))), max(1, int(size * rng.uniform(0.15, 0.5))))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(img, (int(cx), int(cy)), axes, angle, 0, 360, color, -1, cv2.LINE_AA)
        cv2.ellipse(labels, (int(cx), int(cy)), axes, angle, 0, 360, OCCLUDER, -1, cv2.LINE_8)
    else:  # convex polygon
        n = int(rng.integers(3, 7))
        ang = np.sort(rng.uniform(0, 2 * math.pi, n))
        rad = size * rng.uniform(0.2, 0.55, n)
        pts = np.round(np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1) * 16).astype(np.int32)
        hull = cv2.convexHull(pts)
        cv2.fillConvexPoly(img, hull, color, cv2.LINE_AA, 4)
        cv2.fillConvexPoly(labels, hull, OCCLUDER, cv2.LINE_8, 4)


def render_scene(rng: np.random.Generator, width: int = 256, height: int = 256) -> Scene:
    """Render one image of one to three figures (body heights about 85-220 px at 256 x 256).

    Args:
        rng: the generator every choice is drawn from.
        width: image width in pixels.
        height: image height in pixels.
    """
    w, h = width, height
    img = _background(rng, w, h)
    labels = np.zeros((h, w), dtype=np.uint8)
    scale = min(w, h) / 256
    n = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
    placed: list[tuple[np.ndarray, float]] = []
    kpts, hidden, boxes, areas, sizes = [], [], [], [], []
    for _ in range(n):
        for _attempt in range(12):
            fh = math.exp(rng.uniform(math.log(85), math.log(220))) * scale * (0.85 if n > 1 else 1.0)
            rot = rng.normal(0, 12) if rng.random() < 0.9 else rng.uniform(-110, 110)
            if rng.random() < 0.15:  # may be cut by the border
                pelvis = rng.uniform((0, 0.2 * fh), (w, h + 0.2 * fh))
            else:
                lo, hi = 0.55 * fh, h - 0.5 * fh
                py = rng.uniform(lo, hi) if hi > lo else h / 2
                pelvis = np.array([rng.uniform(0.12 * w, 0.88 * w), py])
            if all(np.hypot(*(pelvis - p)) > 0.3 * (fh + s) for p, s in placed):
                break
        else:
            continue
        fig = sample_figure(rng, fh, pelvis, rot)
        pts = np.concatenate([fig.keypoints, fig.hands, fig.feet, fig.head_center[None]])
        margin = max(fig.leg_width, fig.head_radius * 1.2) + 2
        x0, y0 = np.floor(pts.min(0) - margin).astype(int)
        x1, y1 = np.ceil(pts.max(0) + margin).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        draw_figure(img, mask, fig, offset=(x0, y0))
        area = int(np.count_nonzero(mask))
        if area == 0:
            continue
        labels[y0:y1, x0:x1][mask > 0] = len(kpts) + 1
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        boxes.append((x0 + cols[0], y0 + rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1))
        areas.append(area)
        kpts.append(fig.keypoints)
        hidden.append(fig.hidden)
        sizes.append(fh)
        placed.append((pelvis, fh))
    for i in range(len(kpts)):
        if rng.random() < 0.35:
            at = kpts[i][int(rng.integers(0, K))] + rng.normal(0, 0.1 * sizes[i], 2)
            _occluder(rng, img, labels, at, sizes[i] * rng.uniform(0.15, 0.45))
    noise = rng.uniform(0, 10)
    if noise > 2:
        grain = rng.integers(0, int(2 * noise) + 1, img.shape, dtype=np.uint8)
        img = cv2.subtract(cv2.add(img, grain), (int(noise), int(noise), int(noise), 0))
    if rng.random() < 0.2:
        img = cv2.GaussianBlur(img, (3, 3), 0)

    keypoints = np.array(kpts, dtype=np.float32).reshape(-1, K, 2)
    hid = np.array(hidden, dtype=bool).reshape(-1, K)
    visible = np.zeros(hid.shape, dtype=np.uint8)
    if len(keypoints):
        xy = np.round(keypoints).astype(np.int64)
        inside = (xy[..., 0] >= 0) & (xy[..., 0] < w) & (xy[..., 1] >= 0) & (xy[..., 1] < h)
        owner = labels[np.clip(xy[..., 1], 0, h - 1), np.clip(xy[..., 0], 0, w - 1)]
        own = owner == np.arange(1, len(keypoints) + 1)[:, None]
        visible = np.where(inside, np.where(own & ~hid, 2, 1), 0).astype(np.uint8)
    return Scene(
        image=img,
        labels=labels,
        keypoints=keypoints,
        visible=visible,
        bboxes=np.array(boxes, dtype=np.float32).reshape(-1, 4),
        areas=np.array(areas, dtype=np.float32),
    )


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of image ``index`` of ``split`` (``train`` or ``val``)."""
    return np.random.default_rng(np.random.SeedSequence((seed, SPLITS[split], index)))


def coco_categories() -> list[dict]:
    """COCO's person category with its 17 keypoints and skeleton."""
    return [
        {
            "supercategory": "person",
            "id": 1,
            "name": "person",
            "keypoints": list(COCO_KEYPOINTS),
            "skeleton": [list(s) for s in COCO_SKELETON],
        }
    ]


def _polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons (x1, y1, x2, y2, ...) of a binary mask's outer contours."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def _annotations(scene: Scene, image_id: int, first_ann_id: int) -> list[dict]:
    anns = []
    for i in range(len(scene.keypoints)):
        v = scene.visible[i]
        if not v.any():
            continue
        kp = np.where(v[:, None] > 0, np.round(scene.keypoints[i].astype(np.float64), 2), 0.0)
        flat = np.concatenate([kp, v[:, None].astype(np.float64)], axis=1).ravel().tolist()
        x, y, bw, bh = (float(b) for b in scene.bboxes[i])
        anns.append(
            {
                "id": first_ann_id + len(anns),
                "image_id": image_id,
                "category_id": 1,
                "iscrowd": 0,
                "bbox": [x, y, bw, bh],
                "area": float(scene.areas[i]),
                "num_keypoints": int((v > 0).sum()),
                "keypoints": [int(a) if j % 3 == 2 else a for j, a in enumerate(flat)],
                "segmentation": _polygons(scene.labels == i + 1),
            }
        )
    return anns


def write_coco_dataset(
    out: str | Path,
    num_train: int = 2000,
    num_val: int = 200,
    seed: int = 0,
    size: tuple[int, int] = (256, 256),
    jpeg_quality: int = 92,
) -> dict[str, Path]:
    """Write a synthetic COCO keypoint dataset; returns ``{"train": ann_file, "val": ann_file}``.

    Args:
        out: output folder (created).
        num_train: training images.
        num_val: validation images.
        seed: the dataset seed; the same seed writes the same files.
        size: image (w, h).
        jpeg_quality: JPEG quality of the images.
    """
    out = Path(out)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    next_image_id, next_ann_id = 1, 1
    for split, count in (("train", num_train), ("val", num_val)):
        img_dir = out / f"{split}2017"
        img_dir.mkdir(exist_ok=True)
        images, anns = [], []
        for i in range(count):
            scene = render_scene(scene_rng(seed, split, i), *size)
            name = f"{next_image_id:012d}.jpg"
            if not cv2.imwrite(str(img_dir / name), scene.image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]):
                raise OSError(f"could not write {img_dir / name}")
            images.append({"id": next_image_id, "file_name": name, "width": size[0], "height": size[1]})
            new = _annotations(scene, next_image_id, next_ann_id)
            anns.extend(new)
            next_ann_id += len(new)
            next_image_id += 1
        data = {
            "info": {"description": f"posekit synthetic figures ({split}, seed {seed})", "version": "1.0"},
            "licenses": [],
            "images": images,
            "annotations": anns,
            "categories": coco_categories(),
        }
        path = out / "annotations" / f"person_keypoints_{split}2017.json"
        path.write_text(json.dumps(data, separators=(",", ":")))
        files[split] = path
    return files
