"""registers: an authoritative, verifiable reference-data platform (GOV.UK Registers v1 compatible)."""

__version__ = "0.1.0"
