"""Reproducing the shipped heads (``communa models train``) and fitting a workspace's own on its corrections.

Training needs the ``train`` extra (scikit-learn); the runtime in ``communa.enrichment.models`` does not.
"""

from __future__ import annotations

from communa.enrichment.training.cli import train_main

__all__ = ["train_main"]
