"""InstructIR (Conde et al., ECCV 2024; mv-lab/InstructIR): a clean-room re-implementation.

Modules: ``network`` (the instruction-conditioned image model and the text head that maps a
sentence embedding to the model's instruction embedding and a degradation class).
"""
