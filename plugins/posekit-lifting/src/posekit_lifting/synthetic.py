"""Synthetic Human3.6M-format motion for 2D-to-3D lifting.

Skeletons with Human3.6M-17 joints (MMPose's order: root, right hip/knee/foot, left
hip/knee/foot, spine, thorax, neck base, head, left shoulder/elbow/wrist, right
shoulder/elbow/wrist) and per-subject bone lengths perform walking and arm motions
(smooth random variations of every joint angle, plus joint jitter), filmed at 50 fps by
four calibrated cameras around the capture area. Files, as MMPose's ``Human36mDataset``
reads them::

    OUT/annotation_body3d/fps50/h36m_train.npz   subjects S1 S5 S6 S7 S8
    OUT/annotation_body3d/fps50/h36m_test.npz    subjects S9 S11
    OUT/annotation_body3d/cameras.pkl            {(subject, camera_id): {R, T, c, f, k, p, w, h, name, id}}

Each npz holds ``imgname`` (N,) ``S1/S1_Walking.54138969/S1_Walking.54138969_000001.jpg``,
``S`` (N, 17, 4) camera-space metres plus a visibility 1, ``part`` (N, 17, 3) distorted
image pixels plus 1, ``center`` (N, 2) and ``scale`` (N,) of the 2D box (max side x 1.2 / 200).
Cameras: ``X_cam = R.T @ (X_world - T)`` (``R`` camera-to-world, ``T`` the centre in
metres), projected with Human3.6M's radial (``k``) and tangential (``p``) distortion.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np

from posekit.errors import ConfigError

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
ACTIONS = ("Walking", "Walking_1", "Waving", "Directions")
FPS = 50
# mean bone lengths (m): pelvis-hip, thigh, shin, pelvis-spine, spine-thorax, thorax-neck, neck-head,
# thorax-shoulder, upper arm, forearm
BONES = np.array([0.133, 0.445, 0.445, 0.235, 0.255, 0.115, 0.115, 0.15, 0.278, 0.249])


def _smooth(rng: np.random.Generator, t: np.ndarray, amp: float) -> np.ndarray:
    """A smooth random signal (three low-frequency sinusoids), amplitude about ``amp``."""
    f = rng.uniform(0.05, 0.8, 3)
    ph = rng.uniform(0, 2 * math.pi, 3)
    a = rng.uniform(0.3, 1.0, 3) * amp / 1.7
    return (a[:, None] * np.sin(2 * math.pi * f[:, None] * t[None] + ph[:, None])).sum(0)


def _limb_dir(flex: np.ndarray, abd: np.ndarray, side: float) -> np.ndarray:
    """(T, 3) unit vectors: straight down rotated forward by ``flex`` and sideways (outward) by ``abd`` (radians)."""
    ca = np.cos(abd)
    return np.stack([side * np.sin(abd), ca * np.sin(flex), -ca * np.cos(flex)], -1)


def _motion(rng: np.random.Generator, action: str, n: int, bones: np.ndarray) -> np.ndarray:
    """World joint positions (n, 17, 3) in metres (z up) of one action sequence."""
    t = np.arange(n) / FPS
    d = math.radians
    noise = {k: _smooth(rng, t, d(a)) for k, a in (("hip", 4), ("knee", 5), ("sho", 6), ("elb", 8), ("lean", 3))}
    if action.startswith("Walking"):
        radius, speed = rng.uniform(1.0, 1.6), rng.uniform(1.0, 1.4)
        turn = 1.0 if rng.random() < 0.5 else -1.0
        ang = rng.uniform(0, 2 * math.pi) + turn * speed / radius * t
        root_xy = radius * np.stack([np.cos(ang), np.sin(ang)], -1)
        heading = ang + turn * math.pi / 2  # facing along the circle
        phase = 2 * math.pi * speed / rng.uniform(1.25, 1.45) * t + rng.uniform(0, 2 * math.pi)
        hip = [d(5) + d(22) * np.sin(phase + s) for s in (0.0, math.pi)]  # left, right
        knee = [d(8) + d(55) * np.maximum(0.0, np.sin(phase + s - 0.9)) ** 2 for s in (0.0, math.pi)]
        sho_f = [d(-18) * np.sin(phase + s) for s in (0.0, math.pi)]
        sho_a = [np.full(n, d(8)), np.full(n, d(8))]
        elb = [d(15) + d(10) * (1 + np.sin(phase + s)) for s in (math.pi, 0.0)]
        bob = 0.025 * np.cos(2 * phase)
        lean = d(5) + noise["lean"]
    else:
        root_xy = rng.uniform(-1.0, 1.0, 2) + np.stack([_smooth(rng, t, 0.15), _smooth(rng, t, 0.15)], -1)
        heading = rng.uniform(0, 2 * math.pi) + _smooth(rng, t, d(40))
        hip = [np.full(n, d(2)), np.full(n, d(2))]
        knee = [np.full(n, d(5)), np.full(n, d(5))]
        bob = np.zeros(n)
        lean = d(2) + noise["lean"]
        if action == "Waving":
            wave = 2 * math.pi * rng.uniform(1.0, 2.0) * t
            raised = int(rng.integers(0, 2))  # which arm waves
            sho_a = [np.full(n, d(10)), np.full(n, d(10))]
            sho_f = [np.full(n, d(5)), np.full(n, d(5))]
            elb = [np.full(n, d(20)), np.full(n, d(20))]
            sho_a[raised] = d(80) + d(35) * np.sin(0.5 * wave) ** 2
            elb[raised] = d(60) + d(35) * np.sin(wave)
        else:  # Directions: slow pointing gestures
            sho_f = [d(35) + _smooth(rng, t, d(45)), d(35) + _smooth(rng, t, d(45))]
            sho_a = [d(20) + _smooth(rng, t, d(20)), d(20) + _smooth(rng, t, d(20))]
            elb = [d(40) + _smooth(rng, t, d(35)), d(40) + _smooth(rng, t, d(35))]
    hip = [h + noise["hip"] for h in hip]
    knee = [np.maximum(k + noise["knee"], 0.0) for k in knee]
    sho_f = [s + noise["sho"] for s in sho_f]
    elb = [np.maximum(e + noise["elb"], 0.0) for e in elb]

    # body frame (right-handed): x = the person's right, y = forward, z = up; pelvis at the origin
    l_pelvis, l_thigh, l_shin, l_spine, l_thorax, l_neck, l_head, l_sho, l_upper, l_fore = bones
    j = np.zeros((n, 17, 3))
    trunk = np.stack([np.zeros(n), np.sin(lean), np.cos(lean)], -1)
    j[:, 7] = l_spine * trunk
    j[:, 8] = (l_spine + l_thorax) * trunk
    j[:, 9] = j[:, 8] + l_neck * np.stack([np.zeros(n), np.sin(lean + d(25)), np.cos(lean + d(25))], -1)
    j[:, 10] = j[:, 9] + l_head * np.stack([np.zeros(n), np.sin(lean - d(10)), np.cos(lean - d(10))], -1)
    abd_leg = d(3)
    for side, (h_, k_, s_, e_), (hj, kj, fj, sj, ej, wj) in (
        (-1.0, (hip[0], knee[0], (sho_f[0], sho_a[0]), elb[0]), (4, 5, 6, 11, 12, 13)),  # left
        (1.0, (hip[1], knee[1], (sho_f[1], sho_a[1]), elb[1]), (1, 2, 3, 14, 15, 16)),  # right
    ):
        j[:, hj] = (side * l_pelvis, 0.0, 0.0)
        j[:, kj] = j[:, hj] + l_thigh * _limb_dir(h_, np.full(n, abd_leg), side)
        j[:, fj] = j[:, kj] + l_shin * _limb_dir(h_ - k_, np.full(n, abd_leg), side)
        j[:, sj] = j[:, 8] + (side * l_sho, 0.0, -0.03)
        sf, sa = s_
        j[:, ej] = j[:, sj] + l_upper * _limb_dir(sf, sa, side)
        j[:, wj] = j[:, ej] + l_fore * _limb_dir(sf + e_, sa, side)
    # to the world: turn by the heading (body y -> world direction ``heading``), lift, move
    yaw = heading - math.pi / 2
    cy, sy = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, y, z = j[..., 0], j[..., 1], j[..., 2]
    hip_height = l_thigh + l_shin - 0.02
    world = np.stack(
        [cy * x - sy * y + root_xy[:, :1], sy * x + cy * y + root_xy[:, 1:], z + hip_height + bob[:, None]], -1
    )
    return world + rng.normal(0, 0.003, world.shape)


def make_cameras(rng: np.random.Generator, subject: str) -> dict[tuple[str, str], dict]:
    """Four cameras around the capture area (about 5.2 m away, 1.2-1.8 m high), Human3.6M-like intrinsics."""
    cams = {}
    for i, cid in enumerate(CAMERA_IDS):
        az = math.radians(45 + 90 * i + rng.normal(0, 6))
        dist, height = rng.uniform(4.8, 5.6), rng.uniform(1.2, 1.8)
        centre = np.array([dist * math.cos(az), dist * math.sin(az), height])
        fwd = np.array([0.0, 0.0, 0.9]) + rng.normal(0, 0.1, 3) - centre
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        w, h = 1000, (1002 if i in (0, 3) else 1000)
        cams[(subject, cid)] = {
            "R": np.stack([right, down, fwd], axis=1),  # camera -> world (columns: camera axes)
            "T": centre[:, None],
            "c": np.array([[512.0], [515.0]]) + rng.normal(0, 3, (2, 1)),
            "f": np.full((2, 1), 1145.0) + rng.normal(0, 3, (2, 1)),
            "k": np.array([[-0.2], [0.24], [-0.003]]) + rng.normal(0, 0.01, (3, 1)),
            "p": rng.normal(0, 0.001, (2, 1)),
            "w": w,
            "h": h,
            "name": f"camera{i + 1}",
            "id": cid,
        }
    return cams


def project(cam: dict, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points (..., 3) -> camera-space points (..., 3) and distorted pixels (..., 2)."""
    xc = (world - cam["T"][:, 0]) @ cam["R"]
    xy = xc[..., :2] / xc[..., 2:]
    r2 = (xy**2).sum(-1)
    k, p = cam["k"][:, 0], cam["p"][:, 0]
    radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    tan = p[0] * xy[..., 1] + p[1] * xy[..., 0]
    xyd = xy * (radial + tan)[..., None] + r2[..., None] * np.array([p[1], p[0]])
    return xc, xyd * cam["f"][:, 0] + cam["c"][:, 0]


def write_h36m_dataset(out: str | Path, *, frames: int = 250, seed: int = 0) -> dict[str, Path]:
    """Write the train/test npz files and cameras.pkl; returns ``{"train": ..., "test": ..., "cameras": ...}``.

    Args:
        out: output folder (created).
        frames: frames per (subject, action, camera) sequence, at 50 fps.
        seed: the dataset seed; the same seed writes the same files.
    """
    if frames < 1:
        raise ConfigError(f"frames must be >= 1, got {frames}")
    out = Path(out)
    ann_dir = out / "annotation_body3d"
    (ann_dir / "fps50").mkdir(parents=True, exist_ok=True)
    cameras: dict[tuple[str, str], dict] = {}
    files: dict[str, Path] = {}
    for split, subjects in (("train", TRAIN_SUBJECTS), ("test", TEST_SUBJECTS)):
        names, s3d, p2d, centers, scales = [], [], [], [], []
        for subject in subjects:
            sid = int(subject[1:])
            rng = np.random.default_rng(np.random.SeedSequence((seed, sid)))
            cams = make_cameras(rng, subject)
            cameras.update(cams)
            bones = BONES * rng.uniform(0.9, 1.1) * rng.uniform(0.96, 1.04, BONES.shape)
            for a, action in enumerate(ACTIONS):
                world = _motion(np.random.default_rng(np.random.SeedSequence((seed, sid, a))), action, frames, bones)
                for cid in CAMERA_IDS:
                    xc, uv = project(cams[(subject, cid)], world)
                    seq = f"{subject}_{action}.{cid}"
                    names += [f"{subject}/{seq}/{seq}_{i + 1:06d}.jpg" for i in range(frames)]
                    ones = np.ones((frames, 17, 1))
                    s3d.append(np.concatenate([xc, ones], -1))
                    p2d.append(np.concatenate([uv, ones], -1))
                    lo, hi = uv.min(1), uv.max(1)
                    centers.append((lo + hi) / 2)
                    scales.append((hi - lo).max(1) * 1.2 / 200)
        path = ann_dir / "fps50" / f"h36m_{split}.npz"
        np.savez(
            path,
            imgname=np.array(names),
            center=np.concatenate(centers),
            scale=np.concatenate(scales),
            part=np.concatenate(p2d),
            S=np.concatenate(s3d),
        )
        files[split] = path
    files["cameras"] = ann_dir / "cameras.pkl"
    with open(files["cameras"], "wb") as f:
        pickle.dump(cameras, f)
    return files
