"""Preference data: reading and checking pair files (`loading`) and shaping them for TRL (`formatting`).

`python -m arabic_pref.data validate|stats PATH` runs the same checks from the command line.
"""

from arabic_pref.data.loading import PreferenceData, load_preference_data
from arabic_pref.data.report import DataReport
from arabic_pref.errors import DataError

__all__ = ["DataError", "DataReport", "PreferenceData", "load_preference_data"]
