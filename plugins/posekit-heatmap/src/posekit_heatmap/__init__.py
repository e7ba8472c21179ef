"""posekit-heatmap: Heatmap family: MSRA/UDP/Megvii heatmap codecs, HeatmapHead and its losses."""

__version__ = "0.1.0"
