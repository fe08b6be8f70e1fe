"""Bring predefined multi-container stacks up and prove they work."""

__version__ = "0.1.0"
