"""posekit-synthetic: rendered COCO-17 figures for 2D pose (the ``coco`` synthesizer).

- :func:`~posekit_synthetic.coco.write_coco_dataset` (the ``coco`` synthesizer) /
  :func:`~posekit_synthetic.coco.render_scene`.

Everything is deterministic given a seed; ``posekit data synth`` is the command line, and
finds this synthesizer under the entry-point group ``posekit.synthesizers``.
"""

__version__ = "0.1.0"
