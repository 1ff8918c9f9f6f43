"""rightmodel: own the specialists, rent the frontier only when you must."""

__version__ = "0.1.0"
