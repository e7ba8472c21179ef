"""PoseTrack's per-frame multi-person AP, as poseval's ``evaluateAP`` defines it, in vectorized numpy.

Legend: J = 15 poseval joints, G = ground-truth people of a frame, P = predicted people of a frame.

poseval (github.com/leonid-pishchulin/poseval, which MMPose's ``PoseTrack18Metric`` calls) works
in its own 15-joint order (:data:`JOINTS`) and, per frame:

1. a predicted joint is *correct* for a ground-truth person when both are present and their
   distance is at most ``0.5 * head size``; head size is ``0.6 *`` the diagonal of the person's
   head box (PCKh);
2. each prediction keeps only its best ground-truth person (the largest fraction of that person's
   annotated joints it gets correct; the first on ties), then each ground-truth person takes the
   best of the predictions that kept it; a prediction taken by nobody is a false positive in full;
3. every predicted joint becomes one detection (its score, correct or not);

then, per joint, the detections of all frames are sorted by score and the VOC AP of the
precision/recall curve (recall over the annotated joints of all frames) is the joint's AP, in
percent. A joint nobody predicted has AP 0; one that nobody annotated but somebody predicted is
NaN and left out of the mean. Points inside a frame's ignore regions are removed beforehand
(:func:`inside_polygon`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: poseval's joints in its own order (``eval_helpers.Joint``); PoseTrack18 files name ``neck`` ``head_bottom``
JOINTS: tuple[str, ...] = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "head_bottom",
    "nose",
    "head_top",
)
#: the reported joint groups (``eval_helpers.getCum``): name -> joint indices in :data:`JOINTS`
GROUPS: dict[str, tuple[int, ...]] = {
    "Head": (14, 12, 13),
    "Shou": (8, 9),
    "Elb": (7, 10),
    "Wri": (6, 11),
    "Hip": (2, 3),
    "Knee": (1, 4),
    "Ankl": (0, 5),
}
DIST_THR = 0.5


@dataclass
class Frame:
    """One annotated frame: ground truth and predictions in poseval's joint order (J = 15).

    ``gt`` (G, J, 2) pixels, ``gt_has`` (G, J) annotated, ``head_box`` (G, 4) x1, y1, x2, y2;
    ``pred`` (P, J, 2), ``pred_has`` (P, J) predicted, ``pred_scores`` (P, J);
    ``ignore`` the frame's ignore regions, each a (V, 2) polygon.
    """

    gt: np.ndarray
    gt_has: np.ndarray
    head_box: np.ndarray
    pred: np.ndarray
    pred_has: np.ndarray
    pred_scores: np.ndarray
    ignore: Sequence[np.ndarray] = ()


def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) whether each of ``points`` (N, 2) lies strictly inside ``polygon`` (V, 2); its edges are outside.

    Even-odd ray casting, as shapely's ``Polygon.contains`` for the simple polygons of PoseTrack.
    """
    if len(polygon) < 3 or not len(points):
        return np.zeros(len(points), bool)
    x, y = points[:, :1], points[:, 1:]
    a, b = polygon, np.roll(polygon, -1, axis=0)
    ax, ay, bx, by = a[:, 0], a[:, 1], b[:, 0], b[:, 1]
    cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)  # (N, V)
    in_x = (np.minimum(ax, bx) <= x) & (x <= np.maximum(ax, bx))
    in_y = (np.minimum(ay, by) <= y) & (y <= np.maximum(ay, by))
    on_edge = ((cross == 0) & in_x & in_y).any(axis=1)
    straddles = (ay > y) != (by > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = ax + (y - ay) * (bx - ax) / (by - ay)
    crossings = (straddles & (x < x_cross)).sum(axis=1)
    return (crossings % 2 == 1) & ~on_edge


def drop_ignored(frame: Frame) -> Frame:
    """The frame without the points (ground truth and predictions) inside its ignore regions."""
    if not frame.ignore:
        return frame
    gt_has, pred_has = frame.gt_has.copy(), frame.pred_has.copy()
    for polygon in frame.ignore:
        for xy, has in ((frame.gt, gt_has), (frame.pred, pred_has)):
            flat = xy.reshape(-1, 2)
            has &= ~inside_polygon(flat, polygon).reshape(has.shape)
    return Frame(frame.gt, gt_has, frame.head_box, frame.pred, pred_has, frame.pred_scores)


def match_frame(frame: Frame) -> np.ndarray:
    """(P, J) bool: whether each predicted joint is a true positive (step 1 and 2 of the module docstring)."""
    num_pred, num_gt = len(frame.pred), len(frame.gt)
    if not num_pred or not num_gt:
        return np.zeros(frame.pred_has.shape, bool)
    x1, y1, x2, y2 = frame.head_box.T.astype(np.float64)
    head = 0.6 * np.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2)  # (G,)
    both = frame.pred_has[:, None] & frame.gt_has[None]  # (P, G, J)
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.linalg.norm(frame.gt[None] - frame.pred[:, None], axis=-1) / head[None, :, None]
    correct = both & (dist <= DIST_THR)
    annotated = frame.gt_has.sum(axis=1)  # (G,)
    pck = correct.sum(axis=2) / np.maximum(annotated, 1)[None]  # (P, G)
    kept = np.zeros_like(pck)
    best_gt = pck.argmax(axis=1)
    rows = np.arange(num_pred)
    kept[rows, best_gt] = pck[rows, best_gt]
    best_pred = kept.argmax(axis=0)  # (G,)
    taken = kept.max(axis=0) > 0
    labels = np.zeros(frame.pred_has.shape, bool)
    labels[best_pred[taken]] = correct[best_pred[taken], np.flatnonzero(taken)]
    return labels


def voc_ap(scores: np.ndarray, labels: np.ndarray, num_gt: float) -> float:
    """VOC AP in percent of detections ``scores`` (D,) with true-positive ``labels`` (D,) against ``num_gt``.

    0 without detections; NaN when ``num_gt`` is 0 and there are detections (poseval's values).
    Tied scores rank the later detection first: poseval's ``argsort()[::-1]`` where numpy's sort is
    stable (its order of ties otherwise depends on the numpy version and CPU).
    """
    if not len(scores):
        return 0.0
    order = np.argsort(scores, kind="stable")[::-1]
    hits = np.cumsum(labels[order] == 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = hits / num_gt
    precision = hits / np.arange(1, len(hits) + 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.maximum.accumulate(np.concatenate([[0.0], precision, [0.0]])[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps]) * 100)


def evaluate_ap(frames: Sequence[Frame]) -> np.ndarray:
    """(J + 1,) per-joint AP in percent (poseval's order) and their mean over the non-NaN joints last.

    Frames without a ground-truth person are left out, predictions and all (poseval's ``cleanupData``).
    """
    scores: list[list[np.ndarray]] = [[np.zeros(0)] for _ in JOINTS]
    labels: list[list[np.ndarray]] = [[np.zeros(0, bool)] for _ in JOINTS]
    num_gt = np.zeros(len(JOINTS))
    for frame in frames:
        if not len(frame.gt):  # poseval leaves out the frames nobody is annotated in, predictions and all
            continue
        frame = drop_ignored(frame)
        correct = match_frame(frame)
        num_gt += frame.gt_has.sum(axis=0)
        for j in range(len(JOINTS)):
            has = frame.pred_has[:, j]
            scores[j].append(frame.pred_scores[has, j].astype(np.float64))
            labels[j].append(correct[has, j])
    ap = np.array(
        [voc_ap(np.concatenate(s), np.concatenate(lab), n) for s, lab, n in zip(scores, labels, num_gt, strict=True)]
    )
    valid = ap[~np.isnan(ap)]
    return np.append(ap, valid.mean() if len(valid) else np.nan)


def summarize(ap: np.ndarray) -> dict[str, float]:
    """MMPose's names for (J + 1,) APs: ``Head AP`` ... ``Ankl AP`` (group means) and ``AP`` (the total)."""
    out = {f"{name} AP": float(ap[list(joints)].mean()) for name, joints in GROUPS.items()}
    out["AP"] = float(ap[-1])
    return out
