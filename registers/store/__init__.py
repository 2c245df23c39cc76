"""Storage on SQLAlchemy Core: tables, engine set-up, the single append transaction, reads.

SQLite (the default, one file) and PostgreSQL run the same code. Nothing here knows about
HTTP or the command line.
"""
