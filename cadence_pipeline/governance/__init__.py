"""Governance rules as plain Python with no Dagster import, so they test fast."""
