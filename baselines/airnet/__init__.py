"""AirNet (Li et al., CVPR 2022; XLearning-SCU/2022-CVPR-AirNet): a clean-room re-implementation.

Modules: ``network`` (the degradation encoder, the degradation-guided restoration network and
the modulated deformable convolution on ``torchvision.ops.deform_conv2d``).
"""
