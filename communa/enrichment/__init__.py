"""Understanding every message, offline: language, sentiment, toxicity, spam, questions and embeddings.

The Django tables live in `tables.py` (not `models.py`: the `models` package holds the trained models and is
the contract with them; see apps.py). The pipeline (`pipeline.py`) runs after ingest, in batches, from the
`messages.ingested` domain event; docs/understanding.md describes every signal.
"""
