"""Writes to platforms, exactly once as seen on the platform.

enqueue_reply / enqueue_moderation record what to do (idempotent on the key) and start delivery after the
caller's transaction commits. deliver() claims an item with a conditional UPDATE and makes one call:

    pending ──claim──► claimed ──ok──────────────► sent
                          ├──PermanentError──────► failed     (the platform's reason in `error`)
                          ├──NotSentError────────► pending    (retried later: the platform never saw it)
                          └──timeout, 5xx, crash─► unknown    (reconciled, never blindly re-sent)

reconcile() settles `unknown` items by asking the platform: a connector whose writes are idempotent by key
(Connector.idempotent_writes: Matrix transaction ids) is simply asked again with the same key, which the
platform answers with the first result; otherwise Connector.find_sent(...) looks for the write on the
platform. Items no connector can settle stay `unknown` for a person to decide (mark_sent / retry).
"""

from __future__ import annotations

# Implementation below the contract; see the module docstring.
