"""recjax: text-fused graph neural recommenders in JAX."""

__version__ = "0.1.0"
