"""Operators' tools with no HTTP: a user's factors (list, delete, reset, unlock), the audit
trail (query, export), adoption figures, and the `python -m shared.admin` command line."""
