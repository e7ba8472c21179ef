"""Human3.6M for 2D-to-3D pose lifting, from MMPose's ``.npz`` annotations.

The ``.npz`` holds, per frame, ``imgname`` (``S1_Directions_1.54138969_000001.jpg``, maybe
under folders), ``S`` (F, K, 4) 3D joints (x, y, z, visible) in camera space (metres),
``part`` (F, K, 3) 2D joints (x, y, visible) in pixels, and ``center`` / ``scale``. As
MMPose's ``Human36mDataset`` (1.3), frames are grouped into videos by subject, action and
camera, and each sample is a window of ``seq_len`` frames taken every ``seq_step`` frames:

- ``keypoints`` (T, K, 2), ``keypoints_visible`` (T, K): the 2D input sequence (T = seq_len);
- ``lifting_target`` (1, K, 3), ``lifting_target_visible`` (1, K): the 3D joints of the
  target frame, the last one (``causal``) or the middle one; with ``multiple_target`` M,
  every frame of an M-frame window is a target: (M, K, 3);
- ``camera_param``: the camera of the window (``R``, ``T``, ``c``, ``f``, ``k``, ``p``, ``w``, ``h``);
- ``extra``: ``keypoints_3d`` (T, K, 3), ``keypoints_3d_visible`` (T, K), ``img_ids`` (T,),
  ``img_paths``, ``target_img_path``, ``factor`` (T,), ``center`` (1, 2), ``scale``.

``center`` and ``scale`` are the target frame's (MMPose takes those of the window's index,
which is the same frame only for single-frame windows).

``cameras.pkl`` is a pickle: it is read with a restricted unpickler that builds only
dicts, tuples, strings, numbers and numpy arrays, so a crafted file cannot run code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from posekit.datasets import join_root
from posekit.datasets.base import BaseDataset
from posekit.errors import ConfigError, DataError
from posekit.structures import PoseSample
from posekit_lifting.files import load_array, load_npz, load_plain_pickle


def parse_h36m_imgname(imgname: str) -> tuple[str, str, str]:
    """(subject, action, camera) of ``S1_Directions_1.54138969_000001.jpg`` (folders ignored)."""
    subject, rest = os.path.basename(imgname).split("_", 1)
    action, rest = rest.split(".", 1)
    camera, _ = rest.split("_", 1)
    return subject, action, camera


def video_windows(
    frames: Sequence[int],
    seq_len: int = 1,
    seq_step: int = 1,
    causal: bool = True,
    pad_video_seq: bool = False,
    multiple_target: int = 0,
    multiple_target_step: int = 0,
) -> list[list[int]]:
    """The windows (lists of frame indices) of one video's ``frames``, as MMPose's ``Human36mDataset`` builds them.

    Args:
        frames: the video's frame indices, in time order.
        seq_len: frames per window.
        seq_step: step between a window's frames.
        causal: the target is the last frame (True) or the middle one; decides the padding side.
        pad_video_seq: pad at the video ends (repeating the first/last frame) so every frame is a target.
        multiple_target: when > 0, consecutive windows of this many frames (seq_len is ignored).
        multiple_target_step: start-to-start step of those windows; 0 means ``multiple_target``.
    """
    frames = list(frames)
    n, step = len(frames), seq_step
    if multiple_target:
        size, stride = multiple_target, multiple_target_step or multiple_target
        windows = [frames[i : i + size : step] for i in range(0, n, stride)]
        return windows[: (n + stride - size) // stride]
    if not pad_video_seq:
        span = (seq_len - 1) * step + 1
        return [frames[i : i + span : step] for i in range(n - span + 1)]
    left = seq_len - 1 if causal else (seq_len - 1) // 2
    right = 0 if causal else left
    windows = []
    for i in range(n):
        pad_left = max(0, left - i // step)
        pad_right = max(0, right - (n - 1 - i) // step)
        start = max(i % step, i - left * step)
        end = min(n - (n - 1 - i) % step, i + right * step + 1)
        windows.append([frames[0]] * pad_left + frames[start:end:step] + [frames[-1]] * pad_right)
    return windows


class Human36mDataset(BaseDataset):
    """Human3.6M 2D-to-3D lifting windows (MMPose's ``Human36mDataset`` arguments).

    Args:
        ann_file: the ``.npz`` annotations, under ``data_root`` unless absolute.
        seq_len: frames per window (T).
        seq_step: step between the window's frames.
        multiple_target: when > 0, windows of this many frames, every frame a target.
        multiple_target_step: step between multiple-target windows; 0 means ``multiple_target``.
        pad_video_seq: pad windows at the video ends (repeating the first/last frame) so
            every frame is a target.
        causal: the target is the window's last frame (True) or its middle one (False).
        subset_frac: keep this fraction of the windows (a contiguous run from a random start).
        keypoint_2d_src: the 2D input: ``gt`` (``part``), ``detection`` (from
            ``keypoint_2d_det_file``) or ``pipeline`` (left to a transform; ``part`` until then).
        keypoint_2d_det_file: (F, K, 3) ``.npy`` of detected 2D keypoints, under ``data_root``.
        factor_file: (F,) ``.npy`` of per-frame scale factors, under ``data_root``.
        camera_param_file: ``cameras.pkl`` keyed by (subject, camera id), under ``data_root``.
        data_mode: ``topdown`` only (one window per sample).
        data_root: folder that relative file paths are under.
        filter_cfg: accepted for MMPose configs; windows have no box score to filter on.
        metainfo, data_prefix, indices, serialize_data, pipeline, test_mode, lazy_init, max_refetch,
        seed: as :class:`~posekit.datasets.BaseDataset` (``metainfo`` default ``h36m``; ``data_prefix``
            is prefixed to the target image name in ``img_path``).
    """

    METAINFO: ClassVar[str] = "h36m"

    def __init__(
        self,
        ann_file: str = "",
        seq_len: int = 1,
        seq_step: int = 1,
        multiple_target: int = 0,
        multiple_target_step: int = 0,
        pad_video_seq: bool = False,
        causal: bool = True,
        subset_frac: float = 1.0,
        keypoint_2d_src: Literal["gt", "detection", "pipeline"] = "gt",
        keypoint_2d_det_file: str | None = None,
        factor_file: str | None = None,
        camera_param_file: str | None = None,
        data_mode: Literal["topdown"] = "topdown",
        data_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        if seq_len < 1 or seq_step < 1 or multiple_target < 0 or multiple_target_step < 0:
            raise ConfigError(f"{name}: seq_len and seq_step must be >= 1, multiple_target(_step) >= 0")
        if pad_video_seq and not causal and seq_len % 2 == 0:
            raise ConfigError(f"{name}: centred padded windows need an odd seq_len, got {seq_len}")
        if multiple_target and seq_step != 1:
            raise ConfigError(f"{name}: multiple_target windows need seq_step=1, got {seq_step}")
        if not 0 < subset_frac <= 1:
            raise ConfigError(f"{name}: subset_frac must be in (0, 1], got {subset_frac}")
        if keypoint_2d_src == "detection" and not keypoint_2d_det_file:
            raise ConfigError(f"{name}: keypoint_2d_src='detection' needs keypoint_2d_det_file")
        if data_mode != "topdown":
            raise ConfigError(f"{name}: data_mode must be 'topdown', got {data_mode!r}")

        self.seq_len = seq_len
        self.seq_step = seq_step
        self.multiple_target = multiple_target
        self.multiple_target_step = multiple_target_step or multiple_target
        self.pad_video_seq = pad_video_seq
        self.causal = causal
        self.subset_frac = subset_frac
        self.keypoint_2d_src = keypoint_2d_src
        self.keypoint_2d_det_file = join_root(keypoint_2d_det_file, data_root) if keypoint_2d_det_file else None
        self.factor_file = join_root(factor_file, data_root) if factor_file else None
        self.camera_param_file = join_root(camera_param_file, data_root) if camera_param_file else None
        super().__init__(ann_file=ann_file, data_mode=data_mode, data_root=data_root, **kwargs)

    # ---- windows ----

    def sequence_indices(self, imgnames: np.ndarray) -> list[list[int]]:
        """Windows of frame indices over all videos (sorted by subject, action, camera)."""
        videos: dict[tuple[str, str, str], list[int]] = {}
        for i, name in enumerate(imgnames):
            try:
                key = parse_h36m_imgname(str(name))
            except ValueError as e:
                raise DataError(
                    f"annotation file {self.ann_file}: frame {i} has image name {name!r}, not of the form "
                    "S1_Directions_1.54138969_000001.jpg"
                ) from e
            videos.setdefault(key, []).append(i)
        windows = [
            window
            for _, frames in sorted(videos.items())
            for window in video_windows(
                frames,
                self.seq_len,
                self.seq_step,
                self.causal,
                self.pad_video_seq,
                self.multiple_target,
                self.multiple_target_step,
            )
        ]
        size = int(len(windows) * self.subset_frac)
        start = np.random.randint(0, len(windows) - size + 1) if size < len(windows) else 0
        return windows[start : start + size]

    # ---- files ----

    def _frames_array(self, array: np.ndarray, key: str, source: str, width: int, imgnames: np.ndarray) -> np.ndarray:
        """``array`` checked to be (F, K, width) and finite; errors name the file and the frame."""
        shape = (len(imgnames), self.metainfo.num_keypoints, width)
        if array.shape != shape:
            raise DataError(f"{source}: {key} has shape {array.shape}, expected {shape} (frames, keypoints, {width})")
        bad = np.flatnonzero(~np.isfinite(array).all(axis=(1, 2)))
        if bad.size:
            raise DataError(
                f"{source}: {key} of frame {bad[0]} ({imgnames[bad[0]]}) holds NaN or infinite values "
                f"({bad.size} frame(s) in all)"
            )
        return array.astype(np.float32)

    def _per_frame(self, path: str | None, what: str, count: int) -> np.ndarray:
        if path is None:
            return np.zeros(count, np.float32)
        array = load_array(path, what).astype(np.float32).reshape(-1)
        if array.shape[0] != count:
            raise DataError(f"{what} {path}: {array.shape[0]} values for {count} frames")
        return array

    def _camera_params(self) -> Mapping[tuple[str, str], dict[str, Any]]:
        if self.camera_param_file is None:
            return {}
        cams = load_plain_pickle(self.camera_param_file, "camera parameter file")
        if not isinstance(cams, dict):
            raise DataError(f"camera parameter file {self.camera_param_file}: expected a dict, got {type(cams)}")
        return cams

    def load_data_list(self) -> list[PoseSample]:
        ann = load_npz(self.ann_file)
        source = f"annotation file {self.ann_file}"
        for key in ("imgname", "S"):
            if key not in ann:
                raise DataError(f"{source} has no {key!r} array (it has {', '.join(ann)})")
        imgnames = ann["imgname"]
        count = len(imgnames)
        num = self.metainfo.num_keypoints
        kpts_3d = self._frames_array(ann["S"], "'S'", source, 4, imgnames)
        if self.keypoint_2d_src == "detection":
            det = load_array(self.keypoint_2d_det_file or "", "2D keypoint detection file")
            det_source = f"2D keypoint detection file {self.keypoint_2d_det_file}"
            kpts_2d = self._frames_array(det, "the array", det_source, 3, imgnames)
        elif "part" in ann:
            kpts_2d = self._frames_array(ann["part"], "'part'", source, 3, imgnames)
        else:
            kpts_2d = np.zeros((count, num, 3), np.float32)
        centers = ann["center"].astype(np.float32) if "center" in ann else np.zeros((count, 2), np.float32)
        scales = ann["scale"].astype(np.float32) if "scale" in ann else np.zeros(count, np.float32)
        factors = self._per_frame(self.factor_file, "factor file", count)
        cams = self._camera_params()

        targets = (
            list(range(self.multiple_target)) if self.multiple_target else [-1 if self.causal else self.seq_len // 2]
        )
        samples = []
        for idx, window in enumerate(self.sequence_indices(imgnames)):
            frames = np.asarray(window, np.int64)
            names = [str(imgnames[f]) for f in frames]
            target = int(frames[targets[0]])
            camera = None
            if self.camera_param_file is not None:
                subject, _, cam_id = parse_h36m_imgname(names[0])
                if (subject, cam_id) not in cams:
                    raise DataError(
                        f"camera parameter file {self.camera_param_file} has no camera {(subject, cam_id)} "
                        f"(frame {frames[0]}, {names[0]})"
                    )
                camera = dict(cams[(subject, cam_id)])
            samples.append(
                PoseSample(
                    img_id=target,
                    id=idx,
                    img_path=os.path.join(self.data_prefix["img"], str(imgnames[target])),
                    keypoints=kpts_2d[frames, :, :2],
                    keypoints_visible=kpts_2d[frames, :, 2],
                    lifting_target=kpts_3d[frames[targets], :, :3],
                    lifting_target_visible=kpts_3d[frames[targets], :, 3],
                    camera_param=camera,
                    extra={
                        "keypoints_3d": kpts_3d[frames, :, :3],
                        "keypoints_3d_visible": kpts_3d[frames, :, 3],
                        "img_ids": frames,
                        "img_paths": names,
                        "target_img_path": [names[t] for t in targets],
                        "factor": factors[frames],
                        "center": centers[target].reshape(1, 2),
                        "scale": scales[target],
                    },
                )
            )
        return self.to_topdown(samples)
