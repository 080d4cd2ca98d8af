"""Hyperparameter sweeps: search spaces, the Optuna study, trial-side hooks and the MLflow sweep report."""
