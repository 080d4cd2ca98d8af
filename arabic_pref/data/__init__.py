"""Preference data: reading and checking pair files (`loading`) and shaping them for TRL (`formatting`)."""

from arabic_pref.data.loading import DataError, PreferenceData, load_preference_data

__all__ = ["DataError", "PreferenceData", "load_preference_data"]
