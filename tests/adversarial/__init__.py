"""Hostile and broken inputs, in one place: each module is one part of the threat list.

- test_data_import.py: manifests, imports and archives that could delete or corrupt a user's data;
- test_run_integrity.py: runs that could label wrong bytes as verified, or crash instead of
  recording a failed item;
- test_gate_baselines.py: gates that could pass with nothing compared;
- test_weights_add.py: checkpoints registered without being looked at.
"""
