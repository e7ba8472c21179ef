"""The keypoint definition model: MMPose's ``dataset_info`` as validated, immutable data.

A definition file (YAML or JSON) has the layout of MMPose's ``configs/_base_/datasets/*.py``
written as data (``keypoint_info`` ids 0..K-1, ``skeleton_info`` links by name, ``joint_weights``
and ``sigmas`` ``(K,)``); :class:`KeypointInfo` derives what MMPose's ``parse_pose_metainfo`` does.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

Channel = Annotated[int, Field(ge=0, le=255)]
Weight = Annotated[float, Field(ge=0)]
Sigma = Annotated[float, Field(gt=0)]
Color = tuple[Channel, Channel, Channel]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PaperInfo(_Frozen):
    """Where the dataset comes from (shown by ``posekit plugins``; not used in computations)."""

    author: str = ""
    title: str = ""
    container: str = ""
    year: str | int = ""
    homepage: str = ""
    version: str = ""
    date_created: str = ""


class KeypointSpec(_Frozen):
    """One keypoint: its name, (r, g, b) colour 0..255, body half and horizontal-flip partner.

    ``id`` must equal its key in ``keypoint_info`` when given; ``type`` is ``upper``/``lower`` (for
    the half-body augmentation) or ``''``; ``swap`` is the partner's name, ``''`` for itself.
    """

    name: str = Field(min_length=1)
    id: int | None = None
    color: Color = (255, 128, 0)
    type: Literal["upper", "lower", ""] = ""
    swap: str = ""


class LinkSpec(_Frozen):
    """One skeleton link between two named keypoints; ``id`` is informative only (MMPose's files repeat some)."""

    link: tuple[str, str]
    id: int | None = None
    color: Color = (96, 96, 255)


class StatsInfo(_Frozen):
    """Dataset statistics some codecs use (Human3.6M: the mean box center and scale in pixels)."""

    bbox_center: tuple[float, float]
    bbox_scale: float


def _unknown(name: str, names: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else f"; keypoints are {', '.join(names)}"
    return f"unknown keypoint {name!r}{hint}"


class KeypointInfo(_Frozen):
    """A dataset's keypoint definition (K keypoints), validated; derived values as properties.

    ``one_way_swaps`` accepts a ``swap`` whose partner does not swap back, flipped one way as
    MMPose's ``parse_pose_metainfo`` does (its DeepFashion2 file has one); off, such a typo is an error.
    """

    dataset_name: str = Field(min_length=1)
    paper_info: PaperInfo | tuple[PaperInfo, ...] | None = None  # a combined dataset cites several
    keypoint_info: dict[int, KeypointSpec] = Field(min_length=1)
    skeleton_info: dict[int, LinkSpec] = Field(default_factory=dict)
    joint_weights: tuple[Weight, ...]
    sigmas: tuple[Sigma, ...] | None = None
    stats_info: StatsInfo | None = None
    one_way_swaps: bool = False

    _names: tuple[str, ...] = PrivateAttr(default=())
    _flip_indices: tuple[int, ...] = PrivateAttr(default=())
    _flip_pairs: tuple[tuple[int, int], ...] = PrivateAttr(default=())
    _links: tuple[tuple[int, int], ...] = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _default_joint_weights(cls, data: Any) -> Any:
        if isinstance(data, dict) and "joint_weights" not in data and isinstance(data.get("keypoint_info"), dict):
            data = {**data, "joint_weights": [1.0] * len(data["keypoint_info"])}
        return data

    @field_validator("sigmas", mode="before")
    @classmethod
    def _empty_sigmas(cls, value: Any) -> Any:
        return None if isinstance(value, (list, tuple)) and len(value) == 0 else value

    @model_validator(mode="after")
    def _derive(self) -> KeypointInfo:
        num = len(self.keypoint_info)
        ids = sorted(self.keypoint_info)
        if ids != list(range(num)):
            raise ValueError(f"keypoint_info: keys must be the ids 0..{num - 1}, got {ids}")
        specs = [self.keypoint_info[i] for i in ids]
        for i, spec in enumerate(specs):
            if spec.id is not None and spec.id != i:
                raise ValueError(f"keypoint_info.{i}.id: {spec.id} differs from its key {i}")
        names = tuple(spec.name for spec in specs)
        name2id: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in name2id:
                raise ValueError(f"keypoint_info.{i}.name: {name!r} is also the name of keypoint {name2id[name]}")
            name2id[name] = i

        flip_indices: list[int] = []
        flip_pairs: list[tuple[int, int]] = []
        for i, spec in enumerate(specs):
            if spec.swap in ("", spec.name):
                flip_indices.append(i)
                continue
            if spec.swap not in name2id:
                raise ValueError(f"keypoint_info.{i}.swap: {_unknown(spec.swap, names)}")
            partner = specs[name2id[spec.swap]]
            if partner.swap != spec.name and not self.one_way_swaps:
                other = f"swaps with {partner.swap!r}" if partner.swap else "has no swap partner"
                raise ValueError(
                    f"keypoint_info.{i}.swap: {spec.name!r} swaps with {spec.swap!r}, but {spec.swap!r} {other}; "
                    "flip partners must name each other (one_way_swaps: true reads them as MMPose does)"
                )
            flip_indices.append(name2id[spec.swap])
            # MMPose's parse_pose_metainfo lists each pair in both orders: (partner, self)
            flip_pairs.append((name2id[spec.swap], i))

        links: list[tuple[int, int]] = []
        for key, link in self.skeleton_info.items():
            for end in link.link:
                if end not in name2id:
                    raise ValueError(f"skeleton_info.{key}.link: {_unknown(end, names)}")
            links.append((name2id[link.link[0]], name2id[link.link[1]]))

        if len(self.joint_weights) != num:
            raise ValueError(f"joint_weights: {len(self.joint_weights)} values for {num} keypoints")
        if self.sigmas is not None and len(self.sigmas) != num:
            raise ValueError(f"sigmas: {len(self.sigmas)} values for {num} keypoints")

        self._names = names
        self._flip_indices = tuple(flip_indices)
        self._flip_pairs = tuple(flip_pairs)
        self._links = tuple(links)
        return self

    # ---- derived values (MMPose's parse_pose_metainfo names) ----

    @property
    def num_keypoints(self) -> int:
        """K."""
        return len(self._names)

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        """(K,) names in id order."""
        return self._names

    @property
    def keypoint_id2name(self) -> dict[int, str]:
        return dict(enumerate(self._names))

    @property
    def keypoint_name2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self._names)}

    @property
    def upper_body_ids(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.num_keypoints) if self.keypoint_info[i].type == "upper")

    @property
    def lower_body_ids(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.num_keypoints) if self.keypoint_info[i].type == "lower")

    @property
    def flip_indices(self) -> tuple[int, ...]:
        """(K,) index of each keypoint's horizontal-flip partner (itself when it has none)."""
        return self._flip_indices

    @property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        """Symmetric index pairs, each in both orders, in MMPose's order."""
        return self._flip_pairs

    @property
    def skeleton_links(self) -> tuple[tuple[int, int], ...]:
        """Links as (start, end) keypoint indices, in ``skeleton_info`` order."""
        return self._links

    @property
    def num_skeleton_links(self) -> int:
        return len(self._links)

    @property
    def keypoint_colors(self) -> tuple[Color, ...]:
        """(K, 3) drawing colours."""
        return tuple(self.keypoint_info[i].color for i in range(self.num_keypoints))

    @property
    def skeleton_link_colors(self) -> tuple[Color, ...]:
        """(L, 3) drawing colours of the links."""
        return tuple(link.color for link in self.skeleton_info.values())

    def to_dataset_meta(self) -> dict[str, Any]:
        """The dict MMPose's ``parse_pose_metainfo`` returns (a checkpoint's ``meta["dataset_meta"]``).

        ``sigmas`` is an empty array when the dataset has none, as in MMPose.
        """
        import numpy as np

        meta: dict[str, Any] = {
            "dataset_name": self.dataset_name,
            "num_keypoints": self.num_keypoints,
            "keypoint_id2name": self.keypoint_id2name,
            "keypoint_name2id": self.keypoint_name2id,
            "upper_body_ids": list(self.upper_body_ids),
            "lower_body_ids": list(self.lower_body_ids),
            "flip_indices": list(self.flip_indices),
            "flip_pairs": list(self.flip_pairs),
            "keypoint_colors": np.array(self.keypoint_colors, dtype=np.uint8).reshape(-1, 3),
            "num_skeleton_links": self.num_skeleton_links,
            "skeleton_links": list(self.skeleton_links),
            "skeleton_link_colors": np.array(self.skeleton_link_colors, dtype=np.uint8).reshape(-1, 3),
            "dataset_keypoint_weights": np.array(self.joint_weights, dtype=np.float32),
            "sigmas": np.array(self.sigmas if self.sigmas is not None else (), dtype=np.float32),
        }
        if self.stats_info is not None:
            meta["stats_info"] = {
                "bbox_center": np.array(self.stats_info.bbox_center, dtype=np.float32),
                "bbox_scale": np.array(self.stats_info.bbox_scale, dtype=np.float32),
            }
        return meta
