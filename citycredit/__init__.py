"""citycredit: a real-time city credit monitor over 15 national news sites."""

__version__ = "0.1.0"
