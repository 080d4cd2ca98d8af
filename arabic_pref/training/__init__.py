"""Trainers: `BaseTrainer` (shared) and `DPOTrainer` (the spec's API) with `create_dpo_trainer`."""
