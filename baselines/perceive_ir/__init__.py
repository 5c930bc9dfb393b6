"""Perceive-IR (Zhang et al., TIP 2025): a blind all-in-one Restormer guided by DINOv2 semantics."""
