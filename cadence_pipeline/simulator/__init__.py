"""A seeded generator of a realistic demand engine, written as API-native fixture records."""

from cadence_pipeline.simulator.engine import SimulationSummary, generate
from cadence_pipeline.simulator.spec import (
    CohortLaunchSpec,
    EngineSpec,
    InflationSpec,
    NovelCodeSpec,
    PartnerRolloutSpec,
    SignalClassSpec,
    SourceSpec,
    StageSpec,
    default_spec,
)

__all__ = [
    "CohortLaunchSpec",
    "EngineSpec",
    "InflationSpec",
    "NovelCodeSpec",
    "PartnerRolloutSpec",
    "SignalClassSpec",
    "SimulationSummary",
    "SourceSpec",
    "StageSpec",
    "default_spec",
    "generate",
]
