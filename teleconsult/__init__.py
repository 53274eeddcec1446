"""teleconsult: remote ECG reading and video consults for county medical communities."""

__version__ = "0.1.0"
