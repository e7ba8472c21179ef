"""Synthetic datasets: rendered COCO-17 figures for 2D pose.

- :func:`~posekit.synthetic.coco.write_coco_dataset` (the ``coco`` synthesizer) /
  :func:`~posekit.synthetic.coco.render_scene`.

Everything is deterministic given a seed; ``posekit data synth`` is the command line, and
plugins register more synthesizers under the entry-point group ``posekit.synthesizers``.
"""
