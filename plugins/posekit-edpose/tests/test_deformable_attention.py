"""The plain-torch multi-scale deformable attention against the operator's definition, computed point by point
(bilinear interpolation of each level at ``(x * w - 0.5, y * h - 0.5)``, zeros outside, weighted sum)."""

from __future__ import annotations

import math

import torch
from posekit_edpose.transformer import deformable_sample


def bilinear(value: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """``value (D, h, w)`` at pixel coordinates ``(x, y)`` (pixel centres at integers), zeros outside."""
    _, h, w = value.shape
    x0, y0 = math.floor(x), math.floor(y)
    out = torch.zeros(value.shape[0], dtype=value.dtype)
    for xi, yi in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
        if 0 <= xi < w and 0 <= yi < h:
            out += value[:, yi, xi] * (1 - abs(x - xi)) * (1 - abs(y - yi))
    return out


def test_matches_the_definition() -> None:
    g = torch.Generator().manual_seed(0)
    shapes = [(3, 4), (2, 2)]
    b, q, m, d, p = 2, 3, 2, 3, 2
    value = torch.randn(b, sum(h * w for h, w in shapes), m, d, generator=g, dtype=torch.float64)
    locations = torch.rand(b, q, m, len(shapes), p, 2, generator=g, dtype=torch.float64) * 1.4 - 0.2
    weights = torch.rand(b, q, m, len(shapes), p, generator=g, dtype=torch.float64)
    got = deformable_sample(value, shapes, locations, weights)
    want = torch.zeros(b, q, m * d, dtype=torch.float64)
    levels = value.split([h * w for h, w in shapes], dim=1)
    for i in range(b):
        for j in range(q):
            for head in range(m):
                for lvl, (h, w) in enumerate(shapes):
                    grid = levels[lvl][i, :, head].T.reshape(d, h, w)
                    for k in range(p):
                        x, y = locations[i, j, head, lvl, k].tolist()
                        sample = bilinear(grid, x * w - 0.5, y * h - 0.5)
                        want[i, j, head * d : (head + 1) * d] += weights[i, j, head, lvl, k] * sample
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
