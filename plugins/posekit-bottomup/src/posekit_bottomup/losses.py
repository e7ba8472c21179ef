"""AssociativeEmbeddingLoss: pull tags of one person together, push different people apart.

Newell et al., "Associative Embedding" (NeurIPS 2017), https://arxiv.org/abs/1611.05424.

Dimensions: B images, N people, K keypoints, L tag dims, heatmap ``[W, H]``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class AssociativeEmbeddingLoss(nn.Module):
    """MMPose's ``AssociativeEmbeddingLoss``: returns ``(pull_loss, push_loss)``, summed over images.

    For one image with N' people having a visible keypoint, the person tag ``t_n`` is the mean
    tag of its visible keypoints; ``pull = sum_n mean_k ||tag_nk - t_n||^2 / N'`` (mean over
    keypoints and tag dims) and ``push = sum_{n,m} sum_l exp(-(t_nl - t_ml)^2) / (N' (N' - 1))``
    (the sum includes n = m, as MMPose's; ``+1e-6`` in both denominators).

    Args:
        loss_weight: factor on both losses. Default 1.0.
        push_loss_factor: extra factor on the push loss. Default 0.5.
    """

    def __init__(self, loss_weight: float = 1.0, push_loss_factor: float = 0.5) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.push_loss_factor = push_loss_factor

    @staticmethod
    def _per_image(tags: Tensor, keypoint_indices: Tensor) -> tuple[Tensor, Tensor]:
        """Pull and push loss of one image: ``tags (L*K, H, W)``, ``keypoint_indices (N, K, 2)``."""
        n, k = keypoint_indices.shape[:2]
        c, h, w = tags.shape
        if c % k:
            raise ValueError(f"tags: expected L*{k} channels for {k} keypoints, got {c}")
        flat = tags.reshape(c // k, k, h * w)
        index = keypoint_indices[..., 0].long().clamp(0, h * w - 1)
        visible = keypoint_indices[..., 1] > 0  # (N, K)
        kpt_tags = flat[:, torch.arange(k, device=tags.device).expand(n, k), index]  # (L, N, K)
        count = visible.sum(dim=1)  # (N,)
        has = count > 0
        num = int(has.sum())
        if num == 0:
            zero = tags.sum() * 0
            return zero, zero
        weight = visible.to(tags.dtype)
        person = (kpt_tags * weight).sum(dim=2) / count.clamp(min=1)  # (L, N)
        sq = ((kpt_tags - person[..., None]) ** 2 * weight).sum(dim=(0, 2))  # (N,)
        pull = (sq[has] / (count[has] * (c // k))).sum() / (num + 1e-6)
        if num == 1:
            return pull, tags.sum() * 0
        person = person[:, has].T  # (N', L)
        diff = person[None] - person[:, None]
        push = torch.exp(-diff.pow(2)).sum() / ((num - 1) * num + 1e-6)
        return pull, push

    def forward(self, tags: Tensor, keypoint_indices: Tensor | list[Tensor]) -> tuple[Tensor, Tensor]:
        """Args:
            tags: tag maps ``(B, L*K, H, W)``, channel ``l * K + k``.
            keypoint_indices: ``(B, N, K, 2)`` or a list of B ``(N_i, K, 2)``: ``[y * W + x, visible]``
                per keypoint, as the ``AssociativeEmbedding`` codec encodes them.

        Returns:
            ``(pull_loss, push_loss)`` scalars.
        """
        if len(keypoint_indices) != tags.shape[0]:
            raise ValueError(
                f"keypoint_indices: expected {tags.shape[0]} images (as tags), got {len(keypoint_indices)}"
            )
        pull_loss = tags.new_zeros(())
        push_loss = tags.new_zeros(())
        for image_tags, indices in zip(tags, keypoint_indices, strict=True):
            pull, push = self._per_image(image_tags, torch.as_tensor(indices, device=tags.device))
            pull_loss = pull_loss + pull * self.loss_weight
            push_loss = push_loss + push * self.loss_weight * self.push_loss_factor
        return pull_loss, push_loss
