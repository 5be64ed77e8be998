"""cadence: the governance cadence of a marketing demand engine, run on Dagster."""

__version__ = "0.1.0"
