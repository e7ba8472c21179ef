"""Articulated COCO-17 figures: pose sampling and drawing.

A figure is a front-facing body (turned by a yaw of up to 40 degrees) with human
proportions: a filled torso, capsule limbs, a head with eyes, nose and ears, and a
disk at every limb joint centred exactly on its keypoint. Left and right are told apart
as in real images, by the body's facing: the figure's left side is on the viewer's
right of its body axis (so a horizontal flip with COCO's flip indices stays a valid
figure). Each side's arm and leg has its own colour within a figure (random per
figure, not a left/right code), so crossed limbs can be followed.

Keypoints are in image pixels (pixel centres at integer coordinates, the convention of
MMPose's codecs). COCO-17 order: nose, eyes (l, r), ears (l, r), shoulders, elbows,
wrists, hips, knees, ankles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

K = 17
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNE, R_KNE, L_ANK, R_ANK = 11, 12, 13, 14, 15, 16
_SHIFT = 4  # cv2 drawing with 1/16 pixel precision
_ONE = 1 << _SHIFT


@dataclass
class Figure:
    """One sampled figure, ready to draw.

    ``keypoints`` (17, 2) image pixels; ``hidden`` (17,) bool: face points turned away
    from the viewer (drawn nowhere, labelled occluded); ``thickness`` limb widths in
    pixels; ``colors`` named BGR colours.
    """

    keypoints: np.ndarray
    hidden: np.ndarray
    head_center: np.ndarray
    head_radius: float
    neck_base: np.ndarray
    hands: np.ndarray  # (2, 2) left, right hand centres
    feet: np.ndarray  # (2, 2) left, right toe points
    arm_width: float
    leg_width: float
    joint_radius: float
    colors: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def _rot(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s], [s, c]])


def _color(rng: np.random.Generator, lo: int = 30, hi: int = 235) -> np.ndarray:
    return rng.integers(lo, hi, size=3).astype(np.float64)


def _shade(c: np.ndarray, rng: np.random.Generator, amount: float) -> tuple[int, int, int]:
    v = np.clip(c + rng.uniform(-amount, amount, size=3), 0, 255)
    return int(v[0]), int(v[1]), int(v[2])


def _arm_angles(rng: np.random.Generator) -> tuple[float, float]:
    """(upper-arm angle from down, outward positive; elbow bend, signed), degrees."""
    mode = rng.random()
    if mode < 0.4:  # relaxed
        upper = rng.normal(12, 10)
    elif mode < 0.75:  # raised sideways or overhead
        upper = rng.uniform(30, 170)
    else:  # in front of the body
        upper = rng.uniform(-45, 10)
    bend = rng.uniform(0, 140) * (1 if rng.random() < 0.7 else -1)
    return upper, bend


def _leg_angles(rng: np.random.Generator) -> tuple[float, float]:
    """(thigh angle from down, outward positive; knee bend, signed), degrees."""
    if rng.random() < 0.7:
        thigh = rng.normal(5, 6)
        knee = rng.uniform(0, 25)
    else:  # stride, kick or crouch
        thigh = rng.uniform(-25, 55)
        knee = rng.uniform(0, 80)
    return thigh, knee * (1 if rng.random() < 0.5 else -1)


def sample_figure(rng: np.random.Generator, height: float, pelvis: np.ndarray, rotation: float) -> Figure:
    """A random figure about ``height`` pixels tall (head top to ankles), mid-hip at ``pelvis``, turned ``rotation``.

    Args:
        rng: the generator everything is drawn from.
        height: body height in pixels.
        pelvis: (2,) image position of the mid-hip point.
        rotation: in-plane rotation of the whole figure in degrees (positive: clockwise on screen).
    """
    h = height
    j = rng.uniform(0.92, 1.08, size=10)  # per-figure proportions
    head_r = 0.062 * h * j[0]
    neck_len = 0.05 * h * j[1]
    torso_len = 0.29 * h * j[2]
    sho_half = 0.115 * h * j[3]
    hip_half = 0.085 * h * j[4]
    upper_arm, forearm = 0.165 * h * j[5], 0.145 * h * j[6]
    thigh, shin = 0.235 * h * j[7], 0.235 * h * j[8]
    yaw = math.radians(rng.uniform(-40, 40))
    lean = math.radians(rng.normal(0, 7))
    head_tilt = math.radians(rng.normal(0, 8))
    cy = math.cos(yaw)

    # body frame: origin at the pelvis, y down, +x = the figure's left (viewer's right)
    kp = np.zeros((K, 2))
    kp[L_HIP] = (hip_half * cy, 0.0)
    kp[R_HIP] = (-hip_half * cy, 0.0)
    up = _rot(lean)
    sho_mid = up @ np.array([0.0, -torso_len])
    kp[L_SHO] = sho_mid + up @ np.array([sho_half * cy, 0.0])
    kp[R_SHO] = sho_mid + up @ np.array([-sho_half * cy, 0.0])
    neck_dir = _rot(lean + head_tilt)
    neck_top = sho_mid + neck_dir @ np.array([0.0, -neck_len])
    head_c = neck_top + neck_dir @ np.array([0.0, -head_r * 0.95])

    for side, sho, elb, wri in ((1, L_SHO, L_ELB, L_WRI), (-1, R_SHO, R_ELB, R_WRI)):
        upper, bend = _arm_angles(rng)
        fs = rng.uniform(0.75, 1.0, size=2) if rng.random() < 0.3 else np.ones(2)  # foreshortening
        a, b = math.radians(upper), math.radians(upper + bend)
        kp[elb] = kp[sho] + upper_arm * fs[0] * (up @ np.array([side * math.sin(a), math.cos(a)]))
        kp[wri] = kp[elb] + forearm * fs[1] * (up @ np.array([side * math.sin(b), math.cos(b)]))
    for side, hip, kne, ank in ((1, L_HIP, L_KNE, L_ANK), (-1, R_HIP, R_KNE, R_ANK)):
        th, knee = _leg_angles(rng)
        fs = rng.uniform(0.8, 1.0, size=2) if rng.random() < 0.2 else np.ones(2)
        a, b = math.radians(th), math.radians(th + knee)
        kp[kne] = kp[hip] + thigh * fs[0] * np.array([side * math.sin(a), math.cos(a)])
        kp[ank] = kp[kne] + shin * fs[1] * np.array([side * math.sin(b), math.cos(b)])

    # face features on the head sphere: azimuth (0 = facing the viewer, + = the figure's left)
    head_yaw = yaw + math.radians(rng.normal(0, 10))
    hidden = np.zeros(K, dtype=bool)
    hrot = _rot(lean + head_tilt)
    for idx, azim, elev in (
        (NOSE, 0.0, 0.2),
        (L_EYE, 0.5, -0.18),
        (R_EYE, -0.5, -0.18),
        (L_EAR, math.pi / 2, 0.05),
        (R_EAR, -math.pi / 2, 0.05),
    ):
        az = azim + head_yaw
        depth = math.cos(az)
        reach = 0.97 if idx in (L_EAR, R_EAR) else 0.85
        kp[idx] = head_c + hrot @ np.array([head_r * reach * math.sin(az), head_r * elev])
        hidden[idx] = depth < (-0.05 if idx in (L_EAR, R_EAR) else 0.2)

    # hands and feet (no keypoints of their own)
    hands = np.stack([kp[L_WRI] + 0.35 * (kp[L_WRI] - kp[L_ELB]), kp[R_WRI] + 0.35 * (kp[R_WRI] - kp[R_ELB])])
    toe_out = 0.06 * h
    feet = np.stack([kp[L_ANK] + (toe_out * 0.6, toe_out * 0.5), kp[R_ANK] + (-toe_out * 0.6, toe_out * 0.5)])

    rot = _rot(math.radians(rotation))

    def to_img(p: np.ndarray) -> np.ndarray:
        return p @ rot.T + pelvis

    arm_w = max(2.0, h * rng.uniform(0.045, 0.065))
    skin = _color(rng, 60, 230)
    shirt, pants = _color(rng), _color(rng)
    joint = np.array([255.0, 255.0, 255.0]) if rng.random() < 0.5 else _color(rng, 0, 256)
    colors = {
        "skin": _shade(skin, rng, 0),
        "ear": _shade(skin * 0.8, rng, 10),
        "eye": _shade(np.array([25.0, 25.0, 25.0]), rng, 20),
        "nose": _shade(np.array([60.0, 60.0, 190.0]), rng, 40),
        "torso": _shade(shirt, rng, 0),
        "arm_l": _shade(shirt, rng, 70),
        "arm_r": _shade(shirt, rng, 70),
        "leg_l": _shade(pants, rng, 60),
        "leg_r": _shade(pants, rng, 60),
        "joint": _shade(joint, rng, 20),
    }
    return Figure(
        keypoints=to_img(kp).astype(np.float32),
        hidden=hidden,
        head_center=to_img(head_c),
        head_radius=head_r,
        neck_base=to_img(sho_mid),
        hands=to_img(hands),
        feet=to_img(feet),
        arm_width=arm_w,
        leg_width=arm_w * rng.uniform(1.2, 1.5),
        joint_radius=max(1.5, arm_w * rng.uniform(0.5, 0.65)),
        colors=colors,
    )


def _pt(p: np.ndarray) -> tuple[int, int]:
    return round(float(p[0]) * _ONE), round(float(p[1]) * _ONE)


def draw_figure(img: np.ndarray, mask: np.ndarray, fig: Figure, offset: tuple[int, int] = (0, 0)) -> None:
    """Draw ``fig`` anti-aliased into ``img`` (H, W, 3) and as 1s into ``mask`` (h, w) uint8 at ``offset`` (x, y).

    ``mask`` covers the figure's box (``offset`` is its top-left corner in ``img``), so its
    silhouette (and area) can be measured before other figures or occluders cover it.
    """
    c = fig.colors
    kp = fig.keypoints
    ox, oy = offset

    def line(a: np.ndarray, b: np.ndarray, color: tuple[int, int, int], width: float) -> None:
        t = max(1, round(width))
        cv2.line(img, _pt(a), _pt(b), color, t, cv2.LINE_AA, _SHIFT)
        cv2.line(mask, _pt(a - (ox, oy)), _pt(b - (ox, oy)), 1, t, cv2.LINE_8, _SHIFT)

    def disk(p: np.ndarray, r: float, color: tuple[int, int, int], in_mask: bool = True) -> None:
        rr = max(1, round(r * _ONE))
        cv2.circle(img, _pt(p), rr, color, -1, cv2.LINE_AA, _SHIFT)
        if in_mask:
            cv2.circle(mask, _pt(p - (ox, oy)), rr, 1, -1, cv2.LINE_8, _SHIFT)

    # torso (filled quadrilateral shoulders -> hips, a little wider than the joints)
    quad = np.stack([kp[L_SHO], kp[R_SHO], kp[R_HIP], kp[L_HIP]])
    centre = quad.mean(0)
    quad = centre + (quad - centre) * 1.12
    pts = np.array([_pt(p) for p in quad], dtype=np.int32)
    cv2.fillConvexPoly(img, pts, c["torso"], cv2.LINE_AA, _SHIFT)
    cv2.fillConvexPoly(mask, pts - np.array([ox * _ONE, oy * _ONE], dtype=np.int32), 1, cv2.LINE_8, _SHIFT)
    # legs, then neck and head, then arms (arms may cross the torso)
    for hip, kne, ank, foot, col in (
        (L_HIP, L_KNE, L_ANK, fig.feet[0], "leg_l"),
        (R_HIP, R_KNE, R_ANK, fig.feet[1], "leg_r"),
    ):
        line(kp[hip], kp[kne], c[col], fig.leg_width)
        line(kp[kne], kp[ank], c[col], fig.leg_width * 0.85)
        line(kp[ank], foot, c[col], fig.leg_width * 0.6)
    line(fig.neck_base, fig.head_center, c["skin"], fig.arm_width * 1.1)
    for ear in (L_EAR, R_EAR):
        if not fig.hidden[ear]:
            disk(kp[ear], fig.head_radius * 0.3, c["ear"])
    disk(fig.head_center, fig.head_radius, c["skin"])
    for eye in (L_EYE, R_EYE):
        if not fig.hidden[eye]:
            disk(kp[eye], max(1.0, fig.head_radius * 0.16), c["eye"], in_mask=False)
    if not fig.hidden[NOSE]:
        disk(kp[NOSE], max(1.0, fig.head_radius * 0.14), c["nose"], in_mask=False)
    for sho, elb, wri, hand, col in (
        (L_SHO, L_ELB, L_WRI, fig.hands[0], "arm_l"),
        (R_SHO, R_ELB, R_WRI, fig.hands[1], "arm_r"),
    ):
        line(kp[sho], kp[elb], c[col], fig.arm_width)
        line(kp[elb], kp[wri], c[col], fig.arm_width * 0.85)
        disk(hand, fig.arm_width * 0.75, c["skin"])
    for j in (L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI, L_HIP, R_HIP, L_KNE, R_KNE, L_ANK, R_ANK):
        disk(kp[j], fig.joint_radius, c["joint"])
