"""Backup and restore pipelines: source → vault and vault → target, with progress events.

The engine never writes the catalog: it returns results, and services persist them.
"""
