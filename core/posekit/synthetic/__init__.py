"""Synthetic datasets: rendered COCO-17 figures (2D) and Human3.6M-17 motions (3D lifting).

- :func:`~posekit.synthetic.coco.write_coco_dataset` / :func:`~posekit.synthetic.coco.render_scene`;
- :func:`~posekit.synthetic.h36m.write_h36m_dataset`.

Everything is deterministic given a seed; ``posekit data synth`` is the command line.
"""
