"""``dwpose``: the epoch for DWPose's stage-1 loss decay, and the distilled student written at the end.

For a :class:`~posekit_dwpose.distiller.DWPoseDistiller` (any other model is left alone):

- before each training epoch, ``set_epoch(epoch, max_epochs)`` (MMPose reads both from its
  message hub);
- after the run, on the main process, ``student.pth`` (the plain top-down checkpoint of
  :meth:`DWPoseDistiller.student_state_dict`) and ``student.yaml`` (the experiment with the
  student's model in place of the distiller) in the work dir: ``posekit infer student.yaml
  --checkpoint student.pth`` and ``posekit export`` serve it without the teacher.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posekit import hookimpl


def _distiller(trainer: Any) -> Any:
    from posekit_dwpose.distiller import DWPoseDistiller

    model = getattr(trainer, "model", None)
    return model if isinstance(model, DWPoseDistiller) else None


@hookimpl
def before_train_epoch(trainer: Any, epoch: int) -> None:
    model = _distiller(trainer)
    if model is not None:
        model.set_epoch(epoch, trainer.max_epochs)


def write_student(model: Any, cfg: Any, work_dir: Path) -> tuple[Path, Path]:
    """Write ``student.pth`` and ``student.yaml`` of a distiller trained with experiment ``cfg``."""
    import yaml

    meta: dict[str, Any] = {"distilled_by": "DWPoseDistiller"}
    if getattr(model, "dataset_meta", None):  # else the definition is the experiment's `metainfo`
        meta["dataset_meta"] = dict(model.dataset_meta)
    checkpoint = model.save_student(work_dir / "student.pth", meta)
    experiment = cfg.model_dump(mode="json")
    experiment["model"] = model.student_model_cfg
    config = work_dir / "student.yaml"
    tmp = config.with_name(config.name + ".tmp")
    tmp.write_text(
        "# the student distilled by DWPoseDistiller: a plain top-down model (weights: student.pth)\n"
        + yaml.safe_dump(experiment, sort_keys=False),
        encoding="utf-8",
    )
    tmp.replace(config)
    return checkpoint, config


@hookimpl
def after_run(trainer: Any) -> None:
    model = _distiller(trainer)
    if model is not None and getattr(trainer, "is_main", True):
        write_student(model, trainer.cfg, Path(trainer.work_dir))
