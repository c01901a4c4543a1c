"""`communa enrich`: compute the signals of messages stored before enrichment ran (or again, after new models).

communa enrich                      messages without signals, every workspace
communa enrich --workspace acme --all
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from communa.enrichment.management.commands.classify import workspace_named
from communa.enrichment.services import enrich_messages
from communa.stream.models import Message

CHUNK = 1000


class Command(BaseCommand):
    help = "Compute language, sentiment, toxicity, spam and question signals for stored messages."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--workspace", help="Only this workspace (its slug).")
        parser.add_argument("--all", action="store_true", help="Recompute messages that already have signals.")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        messages = Message.objects.filter(deleted_at=None)
        if workspace is not None:
            messages = messages.filter(workspace=workspace)
        if not options["all"]:
            messages = messages.filter(signals=None)
        done, last = 0, 0
        while True:  # keyset pages by id: stable while new messages arrive
            ids = list(messages.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:CHUNK])
            if not ids:
                break
            done += enrich_messages(message_ids=ids)
            last = ids[-1]
            self.stdout.write(f"{done} messages analysed")
        self.stdout.write(f"Done: {done} messages analysed.")
