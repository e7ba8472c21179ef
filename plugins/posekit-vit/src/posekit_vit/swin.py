"""SwinTransformer (`Swin <https://arxiv.org/abs/2103.14030>`__), MMPose's own (``mmpose/models/backbones/swin.py``).

Dimensions: an image ``(B, 3, H, W)`` becomes a ``(H / 4, W / 4)`` grid of ``embed_dims`` tokens; stage
i works on a grid ``2 ** i`` times coarser with ``embed_dims * 2 ** i`` channels (windowed attention,
shifted every other block) and returns ``(B, embed_dims * 2 ** i, H / 2 ** (i + 2), W / 2 ** (i + 2))``.

Keys: ``patch_embed.{projection, norm}``, ``absolute_pos_embed``, ``stages.i.blocks.j.{norm1,
attn.w_msa.{relative_position_bias_table, relative_position_index, qkv, proj}, norm2, ffn}``,
``stages.i.downsample.{norm, reduction}``, ``norm<i>`` per output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import (
    ActConfig,
    FrozenStagesMixin,
    NormConfig,
    PretrainedInit,
    WindowMSA,
    build_norm_layer,
    drop_path,
    freeze,
    init_linears_and_norms,
    run_block,
)
from posekit.protocols import BaseBackbone
from posekit_vit._layers import (
    FFN,
    GELU,
    PatchEmbed,
    PatchMerging,
    load_original_weights,
)

LN = NormConfig(type="LN")


def window_partition(x: Tensor, window: int) -> Tensor:
    """``(B, H, W, C)`` -> ``(B * H / window * W / window, window ** 2, C)``."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def window_reverse(windows: Tensor, window: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: ``(B * num_windows, window ** 2, C)`` -> ``(B, H, W, C)``."""
    b = windows.shape[0] // ((h // window) * (w // window))
    x = windows.view(b, h // window, w // window, window, window, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


class ShiftWindowMSA(nn.Module):
    """:class:`WindowMSA` (``w_msa``) over windows shifted by ``shift_size`` (0: regular windows), the grid
    zero-padded to whole windows; tokens ``(B, H * W, C)`` -> ``(B, H * W, C)`` (no residual).

    Args:
        embed_dims: channels C.
        num_heads: attention heads.
        window_size: window side.
        shift_size: cyclic shift towards the bottom right, in ``[0, window_size)``. Default 0.
        qkv_bias: bias of the qkv projection. Default True.
        qk_scale: overrides ``head_dims ** -0.5``; default None.
        attn_drop_rate: dropout on the attention weights. Default 0.
        proj_drop_rate: dropout after the output projection. Default 0.
        drop_path_rate: stochastic depth of the output. Default 0.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        window_size: int,
        shift_size: int = 0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.window_size = window_size
        self.shift_size = shift_size
        self.w_msa = WindowMSA(embed_dims, num_heads, window_size, qkv_bias, qk_scale, attn_drop_rate, proj_drop_rate)
        self.drop = drop_path(drop_path_rate)

    def _mask(self, h: int, w: int, device: torch.device) -> Tensor:
        """``(num_windows, N, N)``: -100 between tokens from different regions of the shifted grid, else 0."""
        win, shift = self.window_size, self.shift_size
        regions = torch.zeros((1, h, w, 1), device=device)
        cuts = (slice(0, -win), slice(-win, -shift), slice(-shift, None))
        for i, (hs, ws) in enumerate((hs, ws) for hs in cuts for ws in cuts):
            regions[:, hs, ws, :] = i
        ids = window_partition(regions, win).squeeze(-1)
        diff = ids.unsqueeze(1) - ids.unsqueeze(2)
        return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """Tokens ``(B, H * W, C)`` of grid ``size`` -> ``(B, H * W, C)``."""
        b, _, c = x.shape
        h, w = size
        win = self.window_size
        x = x.view(b, h, w, c)
        pad_r, pad_b = (win - w % win) % win, (win - h % win) % win
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = x.shape[1], x.shape[2]
        mask = None
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
            mask = self._mask(hp, wp, x.device)
        x = window_reverse(self.w_msa(window_partition(x, win), mask=mask), win, hp, wp)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        return self.drop(x[:, :h, :w, :].reshape(b, h * w, c))


class SwinBlock(nn.Module):
    """``x + attn(norm1(x))`` then ``x + ffn(norm2(x))``; tokens ``(B, H * W, C)`` -> same shape.

    Args:
        embed_dims: channels C.
        num_heads: attention heads.
        feedforward_channels: hidden channels of the FFN.
        window_size: window side. Default 7.
        shift: shift the windows by half a window. Default False.
        qkv_bias: bias of the qkv projection. Default True.
        qk_scale: overrides ``head_dims ** -0.5``; default None.
        drop_rate: dropout after the projections. Default 0.
        attn_drop_rate: dropout on the attention weights. Default 0.
        drop_path_rate: stochastic depth of both branches. Default 0.
        act_cfg: FFN activation. Default GELU.
        norm_cfg: the two norms. Default LN.
        with_cp: gradient checkpointing. Default False.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        window_size: int = 7,
        shift: bool = False,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        act_cfg: ActConfig = GELU,
        norm_cfg: NormConfig = LN,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        shift_size = window_size // 2 if shift else 0
        self.attn = ShiftWindowMSA(
            embed_dims, num_heads, window_size, shift_size, qkv_bias, qk_scale, attn_drop_rate, drop_rate,
            drop_path_rate,
        )  # fmt: skip
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(embed_dims, feedforward_channels, act_cfg, drop_rate, drop_path_rate)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """Tokens ``(B, H * W, C)`` of grid ``size`` -> same shape."""

        def inner(x: Tensor) -> Tensor:
            x = x + self.attn(self.norm1(x), size)
            return self.ffn(self.norm2(x), identity=x)

        return run_block(inner, x, with_cp=self.with_cp)


class SwinBlockSequence(nn.Module):
    """One stage: its blocks (every other one shifted), then an optional :class:`PatchMerging` (``downsample``)."""

    def __init__(self, blocks: Sequence[SwinBlock], downsample: PatchMerging | None = None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample

    def forward(self, x: Tensor, size: tuple[int, int]) -> tuple[Tensor, tuple[int, int], Tensor]:
        """Tokens of grid ``size`` -> (merged tokens, their grid, the stage's own tokens before merging)."""
        for block in self.blocks:
            x = block(x, size)
        if self.downsample is None:
            return x, size, x
        merged, merged_size = self.downsample(x, size)
        return merged, merged_size, x


def swin_converter(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Keys of the original Swin repository's checkpoints as MMPose's (``convert_weights=True``).

    ``layers`` -> ``stages``, ``attn`` -> ``attn.w_msa``, ``mlp.fc1/fc2`` -> ``ffn.layers.0.0/1``,
    ``patch_embed.proj`` -> ``patch_embed.projection``; the patch-merging weights are reordered from
    the repository's ``x0, x1, x2, x3`` concatenation to ``nn.Unfold``'s channel order. ``head`` dropped.
    """

    def reduction(x: Tensor) -> Tensor:
        out, inp = x.shape
        return x.reshape(out, 4, inp // 4)[:, [0, 2, 1, 3], :].transpose(1, 2).reshape(out, inp)

    def norm(x: Tensor) -> Tensor:
        return x.reshape(4, x.shape[0] // 4)[[0, 2, 1, 3], :].transpose(0, 1).reshape(-1)

    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith("head"):
            continue
        if key.startswith("layers"):
            if "attn." in key:
                key = key.replace("attn.", "attn.w_msa.")
            elif "mlp.fc1." in key:
                key = key.replace("mlp.fc1.", "ffn.layers.0.0.")
            elif "mlp.fc2." in key:
                key = key.replace("mlp.fc2.", "ffn.layers.1.")
            elif "downsample" in key and "reduction." in key:
                value = reduction(value)
            elif "downsample" in key and "norm." in key:
                value = norm(value)
            key = key.replace("layers", "stages", 1)
        elif key.startswith("patch_embed") and "proj" in key:
            key = key.replace("proj", "projection")
        out[key] = value
    return out


class SwinTransformer(FrozenStagesMixin, BaseBackbone):
    """Swin Transformer: patch embedding, then stages of windowed attention joined by patch merging.

    Args:
        pretrain_img_size: the pretraining input ``(H, W)``; sizes ``absolute_pos_embed``. Default 224.
        in_channels: input channels. Default 3.
        embed_dims: channels of the first stage (doubling per stage). Default 96.
        patch_size: side of the embedding patches (= ``strides[0]``). Default 4.
        window_size: attention window side. Default 7.
        mlp_ratio: FFN hidden channels per channel. Default 4.
        depths: blocks per stage. Default (2, 2, 6, 2).
        num_heads: attention heads per stage. Default (3, 6, 12, 24).
        strides: the patch embedding's stride, then each merging's. Default (4, 2, 2, 2).
        out_indices: stages whose (normed) output is returned. Default (0, 1, 2, 3).
        qkv_bias: bias of the qkv projections. Default True.
        qk_scale: overrides ``head_dims ** -0.5``; default None.
        patch_norm: norms in the patch embedding and merging. Default True.
        drop_rate: dropout after the position embedding and projections. Default 0.
        attn_drop_rate: dropout on the attention weights. Default 0.
        drop_path_rate: stochastic depth, rising linearly from 0 over all blocks. Default 0.1.
        use_abs_pos_embed: add a learnt absolute position embedding. Default False.
        act_cfg: FFN activation. Default GELU.
        norm_cfg: norms. Default LN.
        with_cp: gradient checkpointing in the blocks. Default False.
        convert_weights: ``init_cfg``'s checkpoint has the original Swin repository's keys. Default False.
        frozen_stages: freeze the embedding (0) and stages 1..n (eval mode, no grad); -1: none. Default -1.
        init_cfg: ``dict(type='Pretrained', checkpoint=...)``; default None (truncated-normal linears).
    """

    example_config = {"embed_dims": 8, "depths": (2, 2), "num_heads": (1, 2), "strides": (4, 2), "out_indices": (1,)}

    def __init__(
        self,
        pretrain_img_size: int | tuple[int, int] = 224,
        in_channels: int = 3,
        embed_dims: int = 96,
        patch_size: int = 4,
        window_size: int = 7,
        mlp_ratio: int = 4,
        depths: tuple[int, ...] = (2, 2, 6, 2),
        num_heads: tuple[int, ...] = (3, 6, 12, 24),
        strides: tuple[int, ...] = (4, 2, 2, 2),
        out_indices: tuple[int, ...] = (0, 1, 2, 3),
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        patch_norm: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        use_abs_pos_embed: bool = False,
        act_cfg: ActConfig = GELU,
        norm_cfg: NormConfig = LN,
        with_cp: bool = False,
        convert_weights: bool = False,
        frozen_stages: int = -1,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        n = len(depths)
        if len(num_heads) != n or len(strides) != n:
            raise ConfigError(
                f"SwinTransformer: depths {depths}, num_heads {num_heads} and strides {strides} "
                "need one entry per stage"
            )
        if strides[0] != patch_size:
            raise ConfigError(f"SwinTransformer: strides[0] {strides[0]} must equal patch_size {patch_size}")
        if not all(0 <= i < n for i in out_indices):
            raise ConfigError(f"SwinTransformer: out_indices {out_indices} must be stage indices in [0, {n})")
        if not -1 <= frozen_stages <= n:
            raise ConfigError(f"SwinTransformer: frozen_stages must be in [-1, {n}], got {frozen_stages}")
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.convert_weights = convert_weights
        self.init_cfg = init_cfg
        patch = norm_cfg if patch_norm else None
        self.patch_embed = PatchEmbed(in_channels, embed_dims, patch_size, strides[0], norm_cfg=patch)
        self.use_abs_pos_embed = use_abs_pos_embed
        if use_abs_pos_embed:
            size = (pretrain_img_size,) * 2 if isinstance(pretrain_img_size, int) else pretrain_img_size
            patches = (size[0] // patch_size) * (size[1] // patch_size)
            self.absolute_pos_embed = nn.Parameter(torch.zeros((1, patches, embed_dims)))
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        rates = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()  # MMPose's float32 rates
        self.stages = nn.ModuleList()
        channels = embed_dims
        for i in range(n):
            first = sum(depths[:i])
            blocks = [
                SwinBlock(
                    channels,
                    num_heads[i],
                    mlp_ratio * channels,
                    window_size,
                    shift=j % 2 == 1,
                    qkv_bias=qkv_bias,
                    qk_scale=qk_scale,
                    drop_rate=drop_rate,
                    attn_drop_rate=attn_drop_rate,
                    drop_path_rate=rates[first + j],
                    act_cfg=act_cfg,
                    norm_cfg=norm_cfg,
                    with_cp=with_cp,
                )
                for j in range(depths[i])
            ]
            merge = PatchMerging(channels, 2 * channels, strides[i + 1], patch) if i < n - 1 else None
            self.stages.append(SwinBlockSequence(blocks, merge))
            channels = merge.out_channels if merge is not None else channels
        self.num_features = [embed_dims * 2**i for i in range(n)]
        for i in out_indices:
            self.add_module(f"norm{i}", build_norm_layer(norm_cfg, self.num_features[i])[1])
        self.init_weights()
        self.freeze_stages()

    def init_weights(self) -> None:
        """Truncated-normal linears (std 0.02, zero bias), unit LayerNorms and bias tables; then ``init_cfg``."""
        init_linears_and_norms(self)
        for m in self.modules():
            if isinstance(m, WindowMSA):
                nn.init.trunc_normal_(m.relative_position_bias_table, std=0.02)
        if self.use_abs_pos_embed:
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        if self.init_cfg is not None:
            load_original_weights(self, self.init_cfg, swin_converter if self.convert_weights else None)

    def frozen_modules(self) -> list[nn.Module]:
        """The embedding, then stages 1..``frozen_stages`` with their output norms."""
        if self.frozen_stages < 0:
            return []
        mods: list[nn.Module] = [self.patch_embed, self.drop_after_pos]
        for i in range(self.frozen_stages):
            mods.append(self.stages[i])
            if i in self.out_indices:
                mods.append(getattr(self, f"norm{i}"))
        return mods

    def freeze_stages(self) -> None:
        """:meth:`frozen_modules` in eval mode without gradients (and the absolute position embedding fixed)."""
        freeze(*self.frozen_modules())
        if self.frozen_stages >= 0 and self.use_abs_pos_embed:
            self.absolute_pos_embed.requires_grad_(False)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> one ``(B, C_i, h_i, w_i)`` map per ``out_indices`` entry."""
        x, size = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = x + self.absolute_pos_embed
        x = self.drop_after_pos(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x, next_size, out = stage(x, size)
            if i in self.out_indices:
                out = getattr(self, f"norm{i}")(out)
                outs.append(out.view(-1, *size, self.num_features[i]).permute(0, 3, 1, 2).contiguous())
            size = next_size
        return tuple(outs)
