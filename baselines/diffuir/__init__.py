"""DiffUIR (Zheng et al., CVPR 2024; iSEE-Laboratory/DiffUIR): a clean-room re-implementation.

Modules: ``network`` (the U-Net), ``schedule`` (residual diffusion with the shared distribution
term), ``sampler`` (the deterministic test sampler), ``checkpoint`` (loading official and project
checkpoints), ``preprocess`` (benchmark flags), ``restorer`` (the harness plugin).
"""
