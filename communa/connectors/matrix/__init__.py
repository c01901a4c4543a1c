"""Matrix: a bot account reads rooms with /sync, replies in threads and moderates (docs/connectors/matrix.md)."""
