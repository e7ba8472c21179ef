"""Loading: :func:`build_dataloader` (seeded, distributed-aware) and :func:`pose_collate` (samples -> PoseBatch)."""

from posekit.data.collate import pose_collate
from posekit.data.loader import build_dataloader, set_epoch, worker_init_fn

__all__ = ["build_dataloader", "pose_collate", "set_epoch", "worker_init_fn"]
