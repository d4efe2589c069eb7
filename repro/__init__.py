"""repro: reproduce and audit video action recognition papers."""

__version__ = "0.1.0"
