"""Drawing lifted people: 3D skeletons (matplotlib, off-screen) with the keypoint definition's colours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from posekit.visualization import DEFAULT_KPT_COLOR, DEFAULT_LINK_COLOR, meta_links, palette


def draw_pose_3d(
    keypoints: np.ndarray, dataset_meta: Mapping[str, Any], size: tuple[int, int] = (480, 480), title: str = ""
) -> np.ndarray:
    """A 3D plot of people as an ``(h, w, 3)`` uint8 BGR image (matplotlib, off-screen).

    Args:
        keypoints: ``(N, K, 3)`` 3D keypoints (x right, y down, z away from the camera, as
            camera coordinates).
        dataset_meta: the keypoint definition (links and colours).
        size: (w, h) of the image in pixels.
        title: drawn above the plot.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, *np.shape(keypoints)[-2:])
    w, h = size
    fig = Figure(figsize=(w / 100, h / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection="3d")
    ax.view_init(elev=15.0, azim=-70.0)
    # plot axes: x -> x, z (depth) -> y, -y (up) -> z
    pts = np.stack([keypoints[..., 0], keypoints[..., 2], -keypoints[..., 1]], axis=-1)
    k = keypoints.shape[1]
    links = [(a, b) for a, b in meta_links(dataset_meta) if a < k and b < k]
    link_colors = palette(dataset_meta, "skeleton_link_colors", len(links), DEFAULT_LINK_COLOR)[:, ::-1] / 255.0
    kpt_colors = palette(dataset_meta, "keypoint_colors", k, DEFAULT_KPT_COLOR)[:, ::-1] / 255.0
    for person in pts:
        for (a, b), color in zip(links, link_colors, strict=True):
            ax.plot(*person[[a, b]].T, color=color, linewidth=2)
        ax.scatter(*person.T, c=kpt_colors, s=10, depthshade=False)
    if len(pts):
        center = pts.reshape(-1, 3).mean(axis=0)
        radius = max(float(np.abs(pts.reshape(-1, 3) - center).max()), 1e-6)
        ax.set_xlim(center[0] - radius, center[0] + radius)
        ax.set_ylim(center[1] - radius, center[1] + radius)
        ax.set_zlim(center[2] - radius, center[2] + radius)
    if title:
        ax.set_title(title)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)
