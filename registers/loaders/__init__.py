"""File formats in and out of the store (RSF now; CSV, TSV and JSON tables build on it)."""
