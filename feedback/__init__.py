"""Sauti: community feedback and accountability for community health in Mali."""

__version__ = "0.1.0"
