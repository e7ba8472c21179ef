"""The training engine: :class:`Trainer` (the loop), checkpoints, EMA, optimizers, evaluation.

The trainer's behaviour lives in hook implementations (:mod:`posekit.engine.hooks`)
registered under the ``posekit.hooks`` entry-point group, like any plugin's.
"""

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
