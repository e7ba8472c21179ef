"""Head protocol: features in; raw outputs, losses or decoded predictions out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from torch import Tensor, nn

if TYPE_CHECKING:
    from posekit.protocols.codec import BaseKeypointCodec
    from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg


class BaseHead(nn.Module):
    """Base class of every head.

    A head owns its codec (built from its ``decoder`` config, ``self.decoder``; ``self.codec``
    names it for every head) and decodes through it in ``predict``.

    - ``forward(feats)``: the raw outputs (e.g. heatmaps ``(B, K, H, W)``, or a tuple
      ``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))``).
    - ``loss(feats, batch, train_cfg)``: a dict of scalar tensors; keys starting with
      ``loss`` are summed into the training objective, others (``acc_pose``) are logged.
    - ``predict(feats, batch, test_cfg)``: one :class:`InstanceData` per sample with
      ``keypoints (N, K, D)`` and ``keypoint_scores (N, K)`` in the model's *input*
      space; the estimator maps them back to the image. ``feats`` may be a pair
      ``(feats, flipped_feats)`` when ``test_cfg.flip_test`` is on.

    ONNX export traces the optional graph-friendly (torch ops only, batch first) :meth:`export_outputs`
    and :meth:`export_decode`; without the latter the onnxruntime backend decodes the exported
    tensors with the codec. A one-stage head exports every candidate person decoded in the graph,
    and its :meth:`export_select` (score threshold, NMS) runs after the graph.
    """

    decoder: BaseKeypointCodec | None = None
    #: the constructor argument (and attribute) holding K, the number of keypoints predicted; checked
    #: against the keypoint definition. None: the first of num_keypoints, num_joints, out_channels.
    num_keypoints_arg: ClassVar[str | None] = None

    @property
    def codec(self) -> BaseKeypointCodec | None:
        """The codec ``predict`` decodes with (what serving reads): ``self.decoder``, unless a head keeps it
        under another name (MMPose's transformer heads: ``data_decoder``, their ``decoder`` being a module)."""
        return self.decoder

    def forward(self, feats: tuple[Tensor, ...]) -> Any:
        raise NotImplementedError

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        raise NotImplementedError

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        raise NotImplementedError

    def export_outputs(
        self, outputs: Any, flip_outputs: Any | None, flip_indices: Sequence[int], test_cfg: TestCfg
    ) -> tuple[Tensor, ...] | None:
        """``forward``'s outputs for ``B`` crops as the codec's ``batch_decode`` arguments, flipped crops averaged in.

        Returns None when this head has no graph-friendly flip-back (it is then exported without the
        flip test). Default: ``outputs`` as a tuple when ``flip_outputs`` is None, else None.
        """
        if flip_outputs is not None:
            return None
        return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)

    def export_decode(self, outputs: tuple[Tensor, ...]) -> tuple[Tensor, Tensor] | None:
        """Decode :meth:`export_outputs`'s tensors in the graph to ``keypoints (B, K, 2)`` in input pixels
        and ``scores (B, K)``; None (default) when this head has no export decoding.
        """
        return None

    @classmethod
    def export_select(
        cls, outputs: Sequence[Tensor], test_cfg: TestCfg, input_size: tuple[int, int]
    ) -> list[InstanceData] | None:
        """What runs after an exported whole-image graph: per image, the people ``predict`` keeps.

        One :class:`InstanceData` per image row in input pixels (``keypoints (N, K, 2)``,
        ``keypoint_scores (N, K)``, ``bboxes (N, 4)``, ``instance_scores (N,)``); ``input_size`` is
        ``(w, h)``. None (default) when the graph serves one person per crop.
        """
        return None
