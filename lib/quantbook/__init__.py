"""quantbook: reproducible A-share quantitative research reports."""

__version__ = "0.1.0"
