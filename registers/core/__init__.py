"""The pure domain: no I/O, no framework.

Canonical JSON and item hashes, v1 entries and their Merkle leaves, RFC 6962 trees and proofs,
Merkle tiles, and RSF reading and writing.
"""
