"""Schemas of the small Hydra apps (evaluate, encode), registered with Hydra."""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from experiments.config import thaw
from recjax.config.schema import DataConfig, TextConfig


@dataclass
class EvaluateApp:
    run_dir: str = MISSING
    parts: list[str] = field(default_factory=lambda: ["valid", "test"])


def register_apps() -> None:
    cs = ConfigStore.instance()
    cs.store(name="evaluate_schema", node=EvaluateApp)
    cs.store(name="encode_schema", node=make_dataclass("EncodeApp", [
        ("data", thaw(DataConfig), field(default_factory=thaw(DataConfig))),
        ("text", thaw(TextConfig), field(default_factory=thaw(TextConfig))),
        ("out", str | None, field(default=None))]))
