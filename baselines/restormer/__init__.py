"""Restormer (Zamir et al., CVPR 2022): task-specific deraining and motion-deblurring checkpoints."""
