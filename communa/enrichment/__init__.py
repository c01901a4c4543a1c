"""Message understanding: language, sentiment, toxicity, spam, questions and embeddings, computed locally."""
