"""Arabic evaluation of every run and sweep trial: generations, drift from the reference, extra pair sets.

`runner.evaluation_for(dpo_trainer)` is the one entry point the trainer calls (see runner.py); the other
modules each do one job and `text_metrics` and `names` are model-free. Nothing heavy is imported here.
"""
