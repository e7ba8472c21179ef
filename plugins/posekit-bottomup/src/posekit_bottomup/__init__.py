"""posekit-bottomup: Bottom-up family: AssociativeEmbedding and SPR codecs, AssociativeEmbeddingHead and its loss."""

__version__ = "0.1.0"
