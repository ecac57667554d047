"""Readers of the record (API.md §10): the audit log and the changes feed."""
