"""Projekt server: a self-hostable implementation of the Projekt REST API."""

__version__ = "0.1.0"
