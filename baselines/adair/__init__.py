"""AdaIR (Cui et al., ICLR 2025): a blind all-in-one Restormer with frequency mining and modulation."""
