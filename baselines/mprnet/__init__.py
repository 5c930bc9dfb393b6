"""MPRNet (Zamir et al., CVPR 2021; swz30/MPRNet): a clean-room re-implementation.

Modules: ``network`` (the three-stage network, deraining and deblurring configurations).
"""
