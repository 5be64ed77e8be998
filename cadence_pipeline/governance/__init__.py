"""Governance rules as plain Python: no Dagster import, so they test fast and read like the rules."""
