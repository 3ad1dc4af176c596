"""Offline generators for data files committed in the repo (not part of the serving image)."""
