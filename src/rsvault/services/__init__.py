"""Use cases, one module per noun. Shells call these and nothing below them.

Each call is one catalog transaction, committed at its edge. Services take and return plain
view objects (views.py), never ORM rows, so a remote client can stand in for them later.
"""
