"""posekit-bottomup: the bottom-up family.

AssociativeEmbedding and SPR codecs, AssociativeEmbeddingHead and AssociativeEmbeddingLoss.
"""

__version__ = "0.1.0"
