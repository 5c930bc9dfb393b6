"""Restorer plugins shipped with uir-harness (registered through entry points)."""
