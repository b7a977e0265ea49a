"""LoRA for the DiT decoder: load and scale adapters at generation time, build a dataset,
preprocess it to tensors, train, export in upstream's PEFT format (upstream_lm_tools.md §6).

Torch-free at import: `spec.py` (what a request carries) and `dataset.py` (the JSON manifest)
need no torch; everything else imports torch/peft inside and is imported only where used.
"""
