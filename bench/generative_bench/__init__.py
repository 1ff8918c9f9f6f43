"""Data and scoring for bench/generative.py (templated extraction, standard-library docstrings)."""
