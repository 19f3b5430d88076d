"""Recommender models: towers, graph encoders and the registry ``MODELS``."""

from recjax.models.recommender import MODELS, Recommender, build_model, uses_text
from recjax.models.towers import Features

__all__ = ["MODELS", "Features", "Recommender", "build_model", "uses_text"]
