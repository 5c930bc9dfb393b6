"""Classical (weight-free) restoration baselines."""
