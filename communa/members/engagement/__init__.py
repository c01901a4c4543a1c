"""Engagement, levels, lifecycle, key people and the richer profile facts of members.

A sub-package of the members app (its models are the members app's: see the import at the end of
members/models.py). Pure parts: scoring.py (weights, decay, levels with hysteresis), lifecycle.py (states),
influence.py (the reply network: PageRank, betweenness, bridges). The rest: services.py (writes), selectors.py
(reads), tasks.py (subscribers and periodic jobs).
"""
