"""uir-harness: benchmark and reproducibility harness for universal image restoration."""

__version__ = "0.1.0"
