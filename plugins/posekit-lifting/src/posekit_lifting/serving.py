"""Serving a pose lifter: 2D keypoint sequences (``posekit infer``'s own JSON output) lifted per track.

Each person (``track_id``) is lifted frame by frame from a window of ``seq_len`` frames
centered on the frame (edges repeated), normalised by the image size with the lifter's codec;
a head declaring ``sequence_output`` (MotionBERT) lifts whole clips of the backbone's ``seq_len``.
A COCO-17 sequence is converted to Human3.6M-17 first when the lifter expects Human3.6M, as
MMPose's lifting demo does. The 3D keypoints are root-relative, in the lifter's units, with
x right, y down and z away from the camera.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from posekit.errors import DataError
from posekit.inference.pipeline import codec_of, dataset_meta
from posekit.inference.results import PoseInstance
from posekit.protocols.serving import KeypointRequest, RequestKind, Serving
from posekit.structures import PoseBatch, PoseSample

# Human3.6M keypoint i = COCO keypoints _H36M_FROM_COCO[i] averaged
_H36M_FROM_COCO: tuple[tuple[int, ...], ...] = (
    (11, 12),  # pelvis (root) = mid-hip
    (12,),  # right hip
    (14,),  # right knee
    (16,),  # right ankle
    (11,),  # left hip
    (13,),  # left knee
    (15,),  # left ankle
    (5, 6, 11, 12),  # spine = mid(pelvis, thorax)
    (5, 6),  # thorax = mid-shoulder
    (0,),  # neck/nose
    (1, 2),  # head = mid-eye
    (5,),  # left shoulder
    (7,),  # left elbow
    (9,),  # left wrist
    (6,),  # right shoulder
    (8,),  # right elbow
    (10,),  # right wrist
)


def _conversion_matrix(sources: Sequence[Sequence[int]], num_in: int) -> np.ndarray:
    """``(K_out, K_in)`` averaging matrix: row i averages the input keypoints ``sources[i]``."""
    m = np.zeros((len(sources), num_in), np.float32)
    for i, src in enumerate(sources):
        m[i, list(src)] = 1.0 / len(src)
    return m


def convert_keypoints(
    keypoints: np.ndarray, scores: np.ndarray, source: str, target: str
) -> tuple[np.ndarray, np.ndarray]:
    """Convert ``keypoints (..., K, 2)`` and ``scores (..., K)`` between keypoint definitions.

    Supports the identity and ``coco`` -> ``h36m`` (MMPose's ``convert_keypoint_definition``).
    """
    if source == target:
        return keypoints, scores
    if (source, target) != ("coco", "h36m"):
        raise DataError(f"cannot convert 2D keypoints from {source!r} to {target!r} (only coco -> h36m)")
    m = _conversion_matrix(_H36M_FROM_COCO, 17)
    return np.einsum("ok,...kd->...od", m, keypoints), np.einsum("ok,...k->...o", m, scores)


def receptive_field(model: nn.Module) -> int:
    """Frames the lifter sees per prediction: the product of the TCN's kernel sizes, else 1."""
    kernel_sizes = getattr(model.backbone, "kernel_sizes", None)
    return int(np.prod(kernel_sizes)) if kernel_sizes else 1


class LiftingServing(Serving):
    """Serves a :class:`~posekit_lifting.estimator.PoseLifter`: tracked 2D people in, 3D people out.

    Args:
        model: the lifter in eval mode.
        batch_size: windows per forward (default 256).
    """

    request: ClassVar[RequestKind] = "keypoints"
    optimizable: ClassVar[bool] = False

    def __init__(self, model: nn.Module, batch_size: int = 256) -> None:
        super().__init__(model, dataset_meta(model), batch_size)
        self.codec = codec_of(model)
        #: the head predicts every input frame (MotionBERT): tracks go through in clips of ``seq_len`` frames
        self.sequence_output = bool(getattr(model.head, "sequence_output", False))
        self.seq_len = int(model.backbone.seq_len) if self.sequence_output else receptive_field(model)

    def _lift_sequence(self, keypoints: np.ndarray, scores: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """``(T, K, 2)`` keypoints of one track -> ``(T, K, 3)`` through a sequence-to-sequence lifter.

        The track goes through in clips of at most the backbone's ``seq_len`` frames.
        """
        camera = {"w": image_size[0], "h": image_size[1]}
        encoded = self.codec.encode(keypoints, scores, camera_param=camera)
        labels = torch.from_numpy(np.asarray(encoded["keypoint_labels"], dtype=np.float32))  # (T, K, C)
        flip_indices = list(self.dataset_meta.get("flip_indices") or [])
        out = []
        with torch.inference_mode():
            for start in range(0, len(labels), self.seq_len):
                sample = PoseSample(camera_param=camera, flip_indices=flip_indices)
                batch = self.model.data_preprocessor(
                    PoseBatch(inputs=labels[None, start : start + self.seq_len], targets={}, samples=[sample])
                )
                out.append(self.model(batch.inputs, batch, mode="predict")[0].keypoints)
        return np.concatenate(out).astype(np.float32)

    def _lift_track(self, keypoints: np.ndarray, scores: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """``(T, K, 2)`` keypoints of one track -> ``(T, K, 3)`` 3D keypoints."""
        if self.sequence_output:
            return self._lift_sequence(keypoints, scores, image_size)
        t = len(keypoints)
        encoded = self.codec.encode(keypoints, scores, camera_param={"w": image_size[0], "h": image_size[1]})
        labels = np.asarray(encoded["keypoint_labels"], dtype=np.float32)
        labels = labels.reshape(t, -1).T if labels.ndim == 3 else labels  # (C, T)
        half = (self.seq_len - 1) // 2
        index = np.clip(np.arange(t)[:, None] + np.arange(-half, self.seq_len - half)[None], 0, t - 1)  # (T, S)
        windows = torch.from_numpy(np.ascontiguousarray(labels[:, index].transpose(1, 0, 2)))  # (T, C, S)
        out = []
        with torch.inference_mode():
            for start in range(0, t, self.batch_size):
                chunk = windows[start : start + self.batch_size]
                samples = [PoseSample() for _ in range(len(chunk))]
                batch = self.model.data_preprocessor(PoseBatch(inputs=chunk, targets={}, samples=samples))
                results = self.model(batch.inputs, batch, mode="predict")
                out.append(np.concatenate([r.keypoints[:, :, :3] for r in results]))
        return np.concatenate(out).astype(np.float32)

    def lift(self, request: KeypointRequest) -> list[list[PoseInstance]]:
        """3D people per frame from 2D people per frame (``track_id`` groups a person's frames).

        ``request.image_size`` (w, h) normalises the 2D keypoints (the codec's camera); the 2D
        definition (``request.source_meta["dataset_name"]``) is converted to the lifter's.
        """
        frames, image_size, source_meta = request.frames, request.image_size, request.source_meta
        source = str(source_meta.get("dataset_name", ""))
        target = str(self.dataset_meta.get("dataset_name", ""))
        tracks: dict[Any, list[tuple[int, int]]] = {}
        for f, people in enumerate(frames):
            for j, p in enumerate(people):
                tracks.setdefault(p.track_id if p.track_id is not None else ("untracked", j), []).append((f, j))
        lifted: list[list[PoseInstance]] = [[] for _ in frames]
        for members in tracks.values():
            people = [frames[f][j] for f, j in members]
            kpts, scores = convert_keypoints(
                np.stack([p.keypoints[:, :2] for p in people]),
                np.stack([p.keypoint_scores for p in people]),
                source,
                target,
            )
            if kpts.shape[1] != self.codec.num_keypoints:
                raise DataError(
                    f"the lifter takes {self.codec.num_keypoints} keypoints ({target or 'its definition'}); the 2D "
                    f"keypoints have {kpts.shape[1]} ({source or 'unknown definition'})"
                )
            points3d = self._lift_track(kpts, scores, image_size)
            for (f, _), p, k3, s in zip(members, people, points3d, scores, strict=True):
                lifted[f].append(
                    PoseInstance(
                        keypoints=k3, keypoint_scores=s, bbox=p.bbox, bbox_score=p.bbox_score, track_id=p.track_id
                    )
                )
        return lifted

    def draw(
        self, img: np.ndarray | None, people: Sequence[PoseInstance], kpt_thr: float, title: str = ""
    ) -> np.ndarray:
        """A 3D plot of ``people`` (the image, if any, is not drawn on)."""
        from posekit_lifting.drawing import draw_pose_3d

        k = self.codec.num_keypoints
        kpts = np.stack([p.keypoints for p in people]) if people else np.zeros((0, k, 3), np.float32)
        return draw_pose_3d(kpts, self.dataset_meta, title=title)
