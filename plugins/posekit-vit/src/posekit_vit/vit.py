"""VisionTransformer (`ViT <https://arxiv.org/abs/2010.11929>`__), the backbone of ViTPose, with mmpretrain's keys.

MMPose's ViTPose configs name it ``mmpretrain.VisionTransformer`` (or ``mmcls.VisionTransformer``);
the converter drops the scope, so the name resolves to this class. Dimensions: an image
``(B, 3, H, W)`` becomes ``h * w`` patch tokens of C channels (``h = H // patch_size`` with the
default padding); ``out_type='featmap'`` returns them as ``(B, C, h, w)``.

Keys: ``patch_embed.projection``, ``cls_token``, ``pos_embed`` ``(1, extra + h * w, C)``,
``layers.i.{ln1, attn.qkv, attn.proj, ln2, ffn.layers.0.0, ffn.layers.1}``, ``pre_norm``, ``ln1``
(final norm), ``ln2`` (``avg_featmap`` only).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import FrozenStagesMixin, NormConfig, PretrainedInit, build_norm_layer, freeze, load_pretrained
from posekit.protocols import BaseBackbone
from posekit_vit._layers import FFN, MultiheadAttention, PatchEmbed, resize_pos_embed, to_2tuple


class ViTArch(BaseModel):
    """A custom architecture (MMPose's ``arch=dict(...)``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embed_dims: int = Field(gt=0)
    num_layers: int = Field(gt=0)
    num_heads: int = Field(gt=0)
    feedforward_channels: int = Field(gt=0)


def _arch(embed_dims: int, num_layers: int, num_heads: int, feedforward_channels: int) -> ViTArch:
    return ViTArch(
        embed_dims=embed_dims, num_layers=num_layers, num_heads=num_heads, feedforward_channels=feedforward_channels
    )


#: mmpretrain's ``arch_zoo``: name -> settings (``s``/``b``/``l``/``h`` are short names)
ARCH_ZOO: dict[str, ViTArch] = {
    **dict.fromkeys(("s", "small"), _arch(768, 8, 8, 768 * 3)),
    **dict.fromkeys(("b", "base"), _arch(768, 12, 12, 3072)),
    **dict.fromkeys(("l", "large"), _arch(1024, 24, 16, 4096)),
    **dict.fromkeys(("h", "huge"), _arch(1280, 32, 16, 5120)),
    **dict.fromkeys(("eva-g", "eva-giant"), _arch(1408, 40, 16, 6144)),
    **dict.fromkeys(("deit-t", "deit-tiny"), _arch(192, 12, 3, 192 * 4)),
    **dict.fromkeys(("deit-s", "deit-small", "dinov2-s", "dinov2-small"), _arch(384, 12, 6, 384 * 4)),
    **dict.fromkeys(("deit-b", "deit-base"), _arch(768, 12, 12, 768 * 4)),
    **dict.fromkeys(("dinov2-g", "dinov2-giant"), _arch(1536, 40, 24, 6144)),
}
ArchName = Literal[
    "s", "small", "b", "base", "l", "large", "h", "huge", "eva-g", "eva-giant", "deit-t", "deit-tiny",
    "deit-s", "deit-small", "dinov2-s", "dinov2-small", "deit-b", "deit-base", "dinov2-g", "dinov2-giant",
]  # fmt: skip


class PatchCfg(BaseModel):
    """MMPose's ``patch_cfg``: overrides of the patch embedding (mmcv's ``PatchEmbed``).

    Args:
        padding: conv zero padding, or ``corner``/``same`` (pad up to whole patches). Default ``corner``.
        kernel_size: None: ``patch_size``. Default None.
        stride: None: ``patch_size``. Default None.
        bias: conv bias; None: ``not pre_norm``. Default None.
        norm_cfg: a norm over the tokens; default None.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    padding: int | tuple[int, int] | Literal["corner", "same"] = "corner"
    kernel_size: int | None = None
    stride: int | None = None
    bias: bool | None = None
    norm_cfg: NormConfig | None = None


def check_patch_grid(img_size: int | tuple[int, int], patch_size: int) -> None:
    """Refuse an ``img_size`` that is not a whole number of patches, naming both numbers."""
    h, w = to_2tuple(img_size)
    if h % patch_size or w % patch_size:
        raise ConfigError(
            f"VisionTransformer: img_size {(h, w)} does not fit patch_size {patch_size}: {h} x {w} is not a "
            f"whole number of {patch_size} x {patch_size} patches (give a multiple of {patch_size} on each side)"
        )


def _fits_image(patch_size: int, info: ValidationInfo) -> int:
    """``patch_size`` validated against the already validated ``img_size`` (at ``config check``)."""
    if info.data.get("img_size") is not None:
        check_patch_grid(info.data["img_size"], patch_size)
    return patch_size


class TransformerEncoderLayer(nn.Module):
    """Pre-norm block: ``x + attn(ln1(x))`` then ``x + ffn(ln2(x))``; ``(B, N, C)`` -> ``(B, N, C)``.

    Args:
        embed_dims: channels C.
        num_heads: attention heads.
        feedforward_channels: hidden channels of the FFN.
        layer_scale_init_value: LayerScale on both branches when > 0. Default 0.
        drop_rate: dropout after each branch's projection. Default 0.
        attn_drop_rate: dropout on the attention weights. Default 0.
        drop_path_rate: stochastic depth of both branches. Default 0.
        qkv_bias: bias of the qkv projection. Default True.
        norm_cfg: the two norms. Default LN.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        layer_scale_init_value: float = 0.0,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        qkv_bias: bool = True,
        norm_cfg: NormConfig = NormConfig(type="LN"),
    ) -> None:
        super().__init__()
        self.ln1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = MultiheadAttention(
            embed_dims, num_heads, attn_drop_rate, drop_rate, drop_path_rate, qkv_bias, layer_scale_init_value
        )
        self.ln2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(
            embed_dims,
            feedforward_channels,
            ffn_drop=drop_rate,
            drop_path_rate=drop_path_rate,
            layer_scale_init_value=layer_scale_init_value,
        )

    def init_weights(self) -> None:
        """FFN linears Xavier-uniform with N(0, 1e-6) biases (mmpretrain's)."""
        for m in self.ffn.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C)`` -> ``(B, N, C)``."""
        x = x + self.attn(self.ln1(x))
        return self.ffn(self.ln2(x), identity=x)


class VisionTransformer(FrozenStagesMixin, BaseBackbone):
    """Vision Transformer: patch embedding, position embedding, ``num_layers`` encoder layers.

    Args:
        arch: ``small``/``base``/``large``/``huge`` (and mmpretrain's other names), or a dict with
            ``embed_dims``, ``num_layers``, ``num_heads``, ``feedforward_channels``. Default ``base``.
        img_size: the training input ``(H, W)`` (or one side); sizes ``pos_embed``. Other inputs
            interpolate it. Default 224.
        patch_size: patch side in pixels; ``img_size`` must be a whole number of patches. Default 16.
        in_channels: input channels. Default 3.
        out_indices: layers whose output is returned (negative counts from the end). Default -1.
        drop_rate: dropout after the position embedding and in each layer. Default 0.
        drop_path_rate: stochastic depth, rising linearly from 0 to this over the layers. Default 0.
        qkv_bias: bias of the qkv projections. Default True.
        norm_cfg: the layers' norms. Default ``dict(type='LN', eps=1e-6)``.
        final_norm: a norm (``ln1``) after the last layer. Default True.
        out_type: ``featmap`` ``(B, C, h, w)``, ``cls_token`` ``(B, C)``, ``avg_featmap`` ``(B, C)``
            (token mean, then ``ln2``) or ``raw`` ``(B, N, C)``. Default ``cls_token``.
        with_cls_token: prepend a class token. Default True.
        frozen_stages: freeze the embeddings and layers 1..n (eval mode, no grad); -1 or 0: none. Default -1.
        interpolate_mode: how ``pos_embed`` is resized to another input size. Default ``bicubic``.
        layer_scale_init_value: LayerScale on every branch when > 0. Default 0.
        patch_cfg: overrides of the patch embedding (e.g. ViTPose's ``dict(padding=2)``). Default none.
        pre_norm: a norm (``pre_norm``) before the first layer (and no patch-conv bias). Default False.
        output_cls_token: mmcls 1.0rc's switch, written by ViTPose's ``mmcls.VisionTransformer`` configs:
            False returns the patch-token map (``out_type='featmap'``); True (a map and class-token pair)
            is refused. Default None (``out_type`` decides).
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)``; default None.
    """

    example_config = {
        "arch": {"embed_dims": 32, "num_layers": 2, "num_heads": 2, "feedforward_channels": 64},
        "img_size": (64, 48),
        "out_type": "featmap",
        "with_cls_token": False,
    }

    def __init__(
        self,
        arch: ArchName | ViTArch = "base",
        img_size: int | tuple[int, int] = 224,
        patch_size: Annotated[int, Field(gt=0), AfterValidator(_fits_image)] = 16,
        in_channels: int = 3,
        out_indices: int | tuple[int, ...] = -1,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        qkv_bias: bool = True,
        norm_cfg: NormConfig = NormConfig(type="LN", eps=1e-6),
        final_norm: bool = True,
        out_type: Literal["raw", "cls_token", "featmap", "avg_featmap"] = "cls_token",
        with_cls_token: bool = True,
        frozen_stages: int = -1,
        interpolate_mode: Literal["bicubic", "bilinear", "nearest"] = "bicubic",
        layer_scale_init_value: float = 0.0,
        patch_cfg: PatchCfg = PatchCfg(),
        pre_norm: bool = False,
        output_cls_token: bool | None = None,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        if output_cls_token:
            raise ConfigError(
                "VisionTransformer: output_cls_token=True (mmcls 1.0rc's (feature map, class token) pair) is not "
                "supported; choose one output with out_type ('featmap', 'cls_token', 'avg_featmap', 'raw')"
            )
        if output_cls_token is False:
            out_type = "featmap"
        settings = ARCH_ZOO[arch.lower()] if isinstance(arch, str) else ViTArch.model_validate(arch)
        if isinstance(patch_cfg, dict):
            patch_cfg = PatchCfg.model_validate(patch_cfg)
        self.embed_dims = settings.embed_dims
        self.num_layers = settings.num_layers
        self.img_size = to_2tuple(img_size)
        check_patch_grid(self.img_size, patch_size)
        if out_type == "cls_token" and not with_cls_token:
            raise ConfigError("VisionTransformer: out_type='cls_token' needs with_cls_token=True")
        self.patch_embed = PatchEmbed(
            in_channels,
            self.embed_dims,
            kernel_size=patch_cfg.kernel_size or patch_size,
            stride=patch_cfg.stride or patch_size,
            padding=patch_cfg.padding,
            bias=(not pre_norm) if patch_cfg.bias is None else patch_cfg.bias,
            norm_cfg=patch_cfg.norm_cfg,
        )
        self.patch_resolution = self.patch_embed.out_size(self.img_size)
        self.out_type = out_type
        self.with_cls_token = with_cls_token
        self.num_extra_tokens = 1 if with_cls_token else 0
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims)) if with_cls_token else None
        self.interpolate_mode = interpolate_mode
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + self.num_extra_tokens, self.embed_dims))
        self._register_load_state_dict_pre_hook(self._prepare_pos_embed)
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        self.out_indices = tuple(i + self.num_layers if i < 0 else i for i in indices)
        if not all(0 <= i < self.num_layers for i in self.out_indices):
            raise ConfigError(
                f"VisionTransformer: out_indices {indices} must be layer indices in "
                f"[-{self.num_layers}, {self.num_layers}) for {self.num_layers} layers"
            )
        rates = np.linspace(0, drop_path_rate, self.num_layers)
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(
                self.embed_dims,
                settings.num_heads,
                settings.feedforward_channels,
                layer_scale_init_value=layer_scale_init_value,
                drop_rate=drop_rate,
                drop_path_rate=float(rates[i]),
                qkv_bias=qkv_bias,
                norm_cfg=norm_cfg,
            )
            for i in range(self.num_layers)
        )
        if not -1 <= frozen_stages <= self.num_layers:
            raise ConfigError(
                f"VisionTransformer: frozen_stages must be in [-1, {self.num_layers}], got {frozen_stages}"
            )
        self.frozen_stages = frozen_stages
        self.pre_norm = build_norm_layer(norm_cfg, self.embed_dims)[1] if pre_norm else nn.Identity()
        self.final_norm = final_norm
        if final_norm:
            self.ln1 = build_norm_layer(norm_cfg, self.embed_dims)[1]
        if out_type == "avg_featmap":
            self.ln2 = build_norm_layer(norm_cfg, self.embed_dims)[1]
        self.init_cfg = init_cfg
        self.init_weights()
        self.freeze_stages()

    def init_weights(self) -> None:
        """Truncated-normal ``pos_embed`` (std 0.02), the layers' own init; then ``init_cfg``'s weights."""
        for layer in self.layers:
            layer.init_weights()
        if self.init_cfg is not None:
            load_pretrained(self, self.init_cfg)
        else:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def frozen_modules(self) -> list[nn.Module]:
        """Embeddings and layers 1..``frozen_stages`` (the final norms too when every layer is frozen)."""
        if self.frozen_stages <= 0:
            return []
        mods: list[nn.Module] = [self.drop_after_pos, self.patch_embed, self.pre_norm]
        mods += list(self.layers[: self.frozen_stages])
        if self.frozen_stages == self.num_layers:
            mods += [getattr(self, name) for name in ("ln1", "ln2") if hasattr(self, name)]
        return mods

    def freeze_stages(self) -> None:
        """:meth:`frozen_modules` in eval mode without gradients, and the position / class tokens fixed."""
        if self.frozen_stages > 0:
            freeze(*self.frozen_modules())
            self.pos_embed.requires_grad_(False)
            if self.cls_token is not None:
                self.cls_token.requires_grad_(False)

    def _prepare_pos_embed(self, state_dict: dict[str, Tensor], prefix: str, *args: object) -> None:
        """Drop a checkpoint's class-token position when unused; resize its grid to this model's."""
        name = prefix + "pos_embed"
        if name not in state_dict:
            return
        pos = state_dict[name]
        if not self.with_cls_token and pos.shape[1] == self.pos_embed.shape[1] + 1:
            pos = pos[:, 1:]
        if pos.shape != self.pos_embed.shape:
            side = int(np.sqrt(pos.shape[1] - self.num_extra_tokens))
            pos = resize_pos_embed(
                pos, (side, side), self.patch_resolution, self.interpolate_mode, self.num_extra_tokens
            )
        state_dict[name] = pos

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> one output per ``out_indices`` entry, shaped by ``out_type``."""
        b = x.shape[0]
        x, grid = self.patch_embed(x)
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1)
        pos = resize_pos_embed(
            self.pos_embed, self.patch_resolution, grid, self.interpolate_mode, self.num_extra_tokens
        )
        x = self.pre_norm(self.drop_after_pos(x + pos))
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format(x, grid))
        return tuple(outs)

    def _format(self, x: Tensor, grid: tuple[int, int]) -> Tensor:
        if self.out_type == "raw":
            return x
        if self.out_type == "cls_token":
            return x[:, 0]
        tokens = x[:, self.num_extra_tokens :]
        if self.out_type == "featmap":
            return tokens.reshape(x.shape[0], grid[0], grid[1], -1).permute(0, 3, 1, 2)
        return self.ln2(tokens.mean(dim=1))
