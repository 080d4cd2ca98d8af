"""The offline default: a tiny Qwen2 (`model.py`) with the real Qwen2.5 tokenizer (`tokenizer.py`), built locally.

`builtin:tiny-qwen2` resolves here (arabic_pref.models); nothing is downloaded.
"""
