"""Recommender models: towers, backbones, closed-form baselines and the registry."""

from recjax.models import closed_form, recommender  # noqa: F401  (registers their models)
from recjax.models.recommender import Recommender, drop_id_rows, init_variables
from recjax.models.registry import (
    MODELS,
    build_model,
    is_closed_form,
    model_names,
    resolve_config,
    uses_text,
)
from recjax.models.towers import Features

__all__ = ["MODELS", "Features", "Recommender", "build_model", "drop_id_rows",
           "init_variables", "is_closed_form", "model_names", "resolve_config", "uses_text"]
