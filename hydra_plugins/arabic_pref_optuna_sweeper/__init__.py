"""arabic-pref's Optuna sweeper for Hydra (discovered through the hydra_plugins namespace package)."""
