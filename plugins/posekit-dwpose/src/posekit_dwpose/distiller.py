"""DWPoseDistiller: DWPose's two-stage distillation of RTMPose (Yang et al., 2023), as MMPose's
``mmpose/models/distillers/dwpose_distiller.py``.

A frozen teacher and a student, each a top-down estimator built from its own config (a posekit
experiment file, an MMPose ``.py`` config read by posekit-mmpose, or a model dict) and optional
checkpoint. The student's head is a SimCC head (RTMCCHead, RTMWHead): its ``loss_module`` and
``keypoint_x_labels`` / ``keypoint_y_labels`` / ``keypoint_weights`` targets are used.

- Stage 1 (``two_dis=False``): the student learns from the labels (``loss_kpt``), from the
  teacher's last features (``loss_fea``, FeaLoss) and logits (``loss_logit``, KDLoss); both
  distillation terms decay linearly, ``(1 - epoch / max_epochs)`` (the ``dwpose`` hook sets the epoch).
- Stage 2 (``two_dis=True``, head-aware self-distillation): the student's head learns on the
  teacher's (frozen) features from the labels and the teacher's logits, without decay; it
  predicts on the teacher's features.

:meth:`student_state_dict` is the plain top-down model (MMPose's ``tools/misc/pth_transfer.py``):
the student (stage 1), or the teacher's backbone and neck with the student's head (stage 2).
The ``dwpose`` hook writes it with the student's config as ``student.pth`` / ``student.yaml``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.protocols import BasePoseEstimator
from posekit.registry import build
from posekit.structures import PoseBatch, PoseResult
from posekit.types import DataPreprocessorConfig, LossConfig


class DistillMethods(BaseModel):
    """One entry of MMPose's ``distill_cfg``: the losses it adds (``KDLoss`` / ``FeaLoss`` configs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    methods: tuple[LossConfig, ...]


def _estimator(cfg: str | Mapping[str, Any], checkpoint: str | None, what: str) -> tuple[nn.Module, dict[str, Any]]:
    """``(estimator, its model dict)`` built from a config file or model dict, with ``checkpoint`` loaded.

    On the meta device (shape-only builds, config checks) no weights are read: the model's
    pretrained ``init_cfg`` entries and ``checkpoint`` are skipped.
    """
    from posekit.apis import read_model_config
    from posekit.interop import clean_model_dict
    from posekit.nn import load_model_checkpoint

    on_meta = torch.empty(0).is_meta
    if isinstance(cfg, str) and not Path(cfg).is_file():
        raise ConfigError(f"DWPoseDistiller: {what} config {cfg!r} not found (a posekit or MMPose config file)")
    model_cfg = clean_model_dict(read_model_config(cfg)[0], drop_pretrained=on_meta or checkpoint is not None)
    model = build("estimator", model_cfg, where=what)
    if checkpoint is not None and not on_meta:
        load_model_checkpoint(model, os.fspath(checkpoint), source=f"{what} checkpoint {checkpoint!r}")
    return model, clean_model_dict(model_cfg, drop_pretrained=True)


def _tiny_rtmpose(channels: int) -> dict[str, Any]:
    """A 17-keypoint RTMPose (CSPNeXt + RTMCCHead) for 64x64 inputs whose last features have ``channels``."""
    codec = {"type": "SimCCLabel", "input_size": (64, 64), "sigma": (4.9, 5.66), "normalize": False}
    return {
        "type": "TopdownPoseEstimator",
        "backbone": {"type": "CSPNeXt", "deepen_factor": 0.167, "widen_factor": channels / 1024},
        "head": {
            "type": "RTMCCHead",
            "in_channels": channels,
            "out_channels": 17,
            "input_size": (64, 64),
            "in_featuremap_size": (2, 2),
            "gau_cfg": {"hidden_dims": 16, "s": 8},
            "decoder": codec,
        },
    }


class DWPoseDistiller(BasePoseEstimator):
    """Teacher-student distillation of a SimCC top-down model (DWPose).

    Args:
        teacher_cfg: the teacher's config: a file (posekit experiment or MMPose ``.py``) or a model dict.
        student_cfg: the student's config, as ``teacher_cfg``.
        two_dis: stage 2 (the student's head on the teacher's features). Default False.
        distill_cfg: MMPose's list of ``methods`` (``KDLoss`` named ``loss_logit``, ``FeaLoss`` named
            ``loss_fea``); a method with ``use_this: false`` is left out. Default none.
        teacher_pretrained: the teacher's checkpoint (file or URL). Default None.
        student_pretrained: the student's starting checkpoint. Default None (its config's init).
        train_cfg: MMPose's runner settings some configs repeat here (``max_epochs``, ...); unused:
            the schedule is the experiment's ``train`` section. Default None.
        data_preprocessor: the data preprocessor; default the student's.
    """

    #: an example (for ``posekit plugins --check``): two tiny RTMPose models, 64 and 32 channels
    example_config = {
        "teacher_cfg": _tiny_rtmpose(64),
        "student_cfg": _tiny_rtmpose(32),
        "distill_cfg": (
            {"methods": ({"type": "FeaLoss", "name": "loss_fea", "student_channels": 32, "teacher_channels": 64},)},
            {"methods": ({"type": "KDLoss", "name": "loss_logit", "weight": 0.1},)},
        ),
    }

    def __init__(
        self,
        teacher_cfg: str | dict[str, Any],
        student_cfg: str | dict[str, Any],
        two_dis: bool = False,
        distill_cfg: tuple[DistillMethods, ...] = (),
        teacher_pretrained: str | None = None,
        student_pretrained: str | None = None,
        train_cfg: dict[str, int] | None = None,
        data_preprocessor: DataPreprocessorConfig | None = None,
    ) -> None:
        super().__init__()
        self.teacher, _ = _estimator(teacher_cfg, teacher_pretrained, "teacher")
        self.teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.student, self.student_model_cfg = _estimator(student_cfg, student_pretrained, "student")
        if not hasattr(self.student.head, "loss_module"):
            raise ConfigError(
                f"DWPoseDistiller: the student's head {type(self.student.head).__name__} has no loss_module; "
                "DWPose distils SimCC heads (RTMCCHead, RTMWHead)"
            )
        k_t, k_s = getattr(self.teacher.head, "out_channels", None), getattr(self.student.head, "out_channels", None)
        if k_t != k_s:
            raise ConfigError(f"DWPoseDistiller: the teacher predicts {k_t} keypoints but the student {k_s}")
        self.two_dis = two_dis
        self.distill_losses = nn.ModuleDict()
        for entry in distill_cfg:
            for method in DistillMethods.model_validate(entry).methods:
                loss = build("loss", dict(method), where="distill_cfg")
                if getattr(loss, "use_this", True):
                    self.distill_losses[str(getattr(loss, "name", method["type"]))] = loss
        if two_dis and "loss_fea" in self.distill_losses:
            raise ConfigError("DWPoseDistiller: loss_fea needs the student's features, which stage 2 (two_dis) skips")
        self.data_preprocessor = (
            build("data_preprocessor", data_preprocessor, where="data_preprocessor")
            if data_preprocessor is not None
            else self.student.data_preprocessor
        )
        self.metainfo = getattr(self.student, "metainfo", None)
        self.epoch, self.max_epochs = 0, 1

    @property
    def test_cfg(self) -> Any:
        """The student's test switches (flip test, ...)."""
        return self.student.test_cfg

    @property
    def head(self) -> nn.Module:
        """The head that predicts: the student's (its codec serves the distiller)."""
        return self.student.head

    def set_epoch(self, epoch: int, max_epochs: int) -> None:
        """The current epoch (0-based) and the run's length (stage 1 scales by ``1 - epoch / max_epochs``)."""
        self.epoch, self.max_epochs = epoch, max(max_epochs, 1)

    def train(self, mode: bool = True) -> DWPoseDistiller:
        """Train mode for the student and the losses; the teacher stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    @contextlib.contextmanager
    def _teacher_trunk(self) -> Iterator[nn.Module]:
        """The student with the teacher's backbone and neck in place (stage 2 predicts so)."""
        if not self.two_dis:
            yield self.student
            return
        own = {name: self.student._modules[name] for name in ("backbone", "neck") if name in self.student._modules}
        try:
            for name in own:
                setattr(self.student, name, getattr(self.teacher, name))
            yield self.student
        finally:
            for name, module in own.items():
                setattr(self.student, name, module)

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        """The features the student's head reads: the student's (stage 1) or the teacher's (stage 2)."""
        return self.teacher.extract_feat(inputs) if self.two_dis else self.student.extract_feat(inputs)

    def _forward(self, inputs: Tensor) -> Any:
        return self.student.head.forward(self.extract_feat(inputs))

    def loss(self, inputs: Tensor, batch: PoseBatch) -> dict[str, Tensor]:
        """``loss_kpt`` (the student's head against the labels) plus ``loss_fea`` / ``loss_logit``.

        Returns:
            scalar tensors; in stage 1 the distillation terms carry ``1 - epoch / max_epochs``.
        """
        with torch.no_grad():
            feats_t = self.teacher.extract_feat(inputs)
            pred_t = self.teacher.head.forward(feats_t)
        feats_s = feats_t if self.two_dis else self.student.extract_feat(inputs)
        head = self.student.head
        pred = head.forward(feats_s)
        gt = (
            batch.instance_targets("keypoint_x_labels", pred[0]),
            batch.instance_targets("keypoint_y_labels", pred[1]),
        )
        weights = batch.instance_targets("keypoint_weights", pred[0])
        losses = {"loss_kpt": head.loss_module(pred, gt, weights)}
        decay = 1.0 if self.two_dis else 1.0 - self.epoch / self.max_epochs
        if "loss_fea" in self.distill_losses:
            losses["loss_fea"] = decay * self.distill_losses["loss_fea"](feats_s[-1], feats_t[-1])
        if "loss_logit" in self.distill_losses:
            beta = float(getattr(head.loss_module, "beta", 1.0))
            losses["loss_logit"] = decay * self.distill_losses["loss_logit"](pred, pred_t, beta, weights)
        return losses

    def predict(self, inputs: Tensor, batch: PoseBatch) -> list[PoseResult]:
        """The student's predictions (stage 2: its head on the teacher's features), in image pixels."""
        with self._teacher_trunk() as student:
            return student.predict(inputs, batch)

    def serving(self) -> Any:
        """Served as the student is (top-down, image + boxes), predicting through :meth:`predict`."""
        return type(self.student.serving())(self)

    def student_state_dict(self) -> dict[str, Tensor]:
        """The plain top-down state dict of the distilled model (MMPose's ``pth_transfer``)."""
        with self._teacher_trunk() as student:
            return {k: v.detach().clone() for k, v in student.state_dict().items()}

    def save_student(self, path: str | os.PathLike[str], meta: Mapping[str, Any] | None = None) -> Path:
        """Write :meth:`student_state_dict` as a plain checkpoint ``{"state_dict", "meta"}`` (atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"state_dict": self.student_state_dict(), "meta": dict(meta or {})}, tmp)
        os.replace(tmp, path)
        return path
