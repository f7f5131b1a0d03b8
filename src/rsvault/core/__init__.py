"""Stdlib-only building blocks shared by every layer: clock, ids, byte units."""
