"""`communa members suggest|trust-email`: identity resolution from the command line."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from communa.accounts.models import Workspace
from communa.members.services import generate_suggestions, trust_email_platform


class Command(BaseCommand):
    help = "Identity resolution: suggest (and, when certain, perform) merges of members who are one person."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        suggest = actions.add_parser("suggest", help="key every identity and generate merge suggestions")
        suggest.add_argument("--workspace", help="a workspace slug (default: every workspace)")
        trust = actions.add_parser(
            "trust-email", help="treat emails from a platform as verified: same-email identities merge by themselves"
        )
        trust.add_argument("--workspace", required=True, help="the workspace slug")
        trust.add_argument("platform", help='the identity platform, e.g. "discourse:forum.example.com"')

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "trust-email":
            workspace = self._workspace(options["workspace"])
            trust_email_platform(workspace=workspace, platform=options["platform"], actor=None)
            self.stdout.write(f"{workspace.slug}: emails from {options['platform']} are now treated as verified")
            return
        slug = options["workspace"]
        workspaces = [self._workspace(slug)] if slug else list(Workspace.objects.order_by("slug"))
        for workspace in workspaces:
            started = time.monotonic()
            result = generate_suggestions(workspace=workspace)
            self.stdout.write(
                f"{workspace.slug}: {result.suggested} suggestions, {result.merged} automatic merges"
                f" ({result.keyed} identities keyed, {time.monotonic() - started:.1f} s)"
            )

    def _workspace(self, slug: str) -> Workspace:
        try:
            return Workspace.objects.get(slug=slug)
        except Workspace.DoesNotExist as exc:
            raise CommandError(f"no workspace {slug!r}") from exc
