"""NAFNet (Chen et al., ECCV 2022; megvii-research/NAFNet): a clean-room re-implementation.

Modules: ``network`` (the U-Net and its local-statistics test-time variant). The block lives in
``baselines.blocks.nafnet``, shared with InstructIR.
"""
