"""The training engine: :class:`Trainer` (the loop; behaviour in ``posekit.hooks``), checkpoints, EMA, evaluation."""

from posekit.engine.checkpoint import find_latest, save_checkpoint
from posekit.engine.ema import ExpMomentumEMA
from posekit.engine.evaluation import evaluate, evaluate_checkpoint
from posekit.engine.trainer import Trainer

__all__ = [
    "ExpMomentumEMA",
    "Trainer",
    "evaluate",
    "evaluate_checkpoint",
    "find_latest",
    "save_checkpoint",
]
