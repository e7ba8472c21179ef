"""posekit-yolox-train: the data side and schedule switches of YOLOX-style one-stage pose training.

Transforms ``Mosaic``, ``YOLOXMixUp``, ``FilterAnnotations``; the batch augment
``BatchSyncRandomResize``; hooks ``yoloxpose_mode_switch`` and ``rtmo_mode_switch``.
"""

__version__ = "0.1.0"
