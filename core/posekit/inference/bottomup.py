"""Bottom-up inference: a whole image through the test pipeline and the estimator, every person out."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from posekit.inference.pipeline import dataset_meta, test_pipeline
from posekit.inference.results import PoseInstance, instances_from_results
from posekit.structures import PoseBatch, PoseSample
from posekit.transforms.base import Compose


class BottomupRunner:
    """Run a bottom-up estimator on single images.

    Args:
        model: a bottom-up estimator in eval mode (``dataset_meta`` gives flip indices).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.pipeline = Compose(test_pipeline(model))
        self.flip_indices = [int(i) for i in dataset_meta(model).get("flip_indices", ())]

    @torch.inference_mode()
    def __call__(self, img: np.ndarray, img_path: str = "", img_id: int = -1) -> list[PoseInstance]:
        """People in ``img (H, W, 3)`` uint8 BGR: keypoints in image pixels, boxes spanning them."""
        sample = self.pipeline(PoseSample(img=img, img_path=img_path, img_id=img_id, flip_indices=self.flip_indices))
        batch = self.model.data_preprocessor(PoseBatch(inputs=sample.inputs[None], targets={}, samples=[sample]))
        return instances_from_results(self.model(batch.inputs, batch, mode="predict"))
