"""PromptIR (Potlapalli et al., NeurIPS 2023): a blind all-in-one Restormer with learned prompts."""
