"""Comparing runs of an MLflow store: a leaderboard of a sweep's trials (or of single runs), plots, curves.

`python -m arabic_pref.compare` and `notebooks/compare_runs.ipynb` are both thin layers over these modules:
`runs.py` reads the store (and the Optuna study when there is one) into a table, `plots.py` draws it,
`curves.py` draws a run's learning curves (also logged as `learning_curves.png` at the end of every run).
Nothing heavy is imported here; MLflow and matplotlib load when a function needs them.
"""
