"""Storage: SQLAlchemy Core over SQLite by default (PostgreSQL via XOPS_DATABASE_URL)."""
