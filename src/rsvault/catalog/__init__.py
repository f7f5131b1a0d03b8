"""The catalog: which vaults exist and where, and the jobs run against them (SQLAlchemy 2).

SQLite under RSVAULT_HOME by default; any SQLAlchemy URL (PostgreSQL) through
RSVAULT_DATABASE_URL. The schema is owned by Alembic migrations shipped in the package.
"""
