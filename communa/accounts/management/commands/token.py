"""`communa token create|list|revoke`: personal API tokens from the command line."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from communa.accounts.models import ApiToken, User
from communa.accounts.selectors import active_api_tokens
from communa.accounts.services import create_api_token, revoke_api_token


class Command(BaseCommand):
    help = "Create, list or revoke a user's API tokens. A new token is printed once and never again."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a token and print it")
        create.add_argument("--user", required=True, help="username")
        create.add_argument("--name", required=True, help="what the token is for")
        listing = actions.add_parser("list", help="list a user's live tokens (never the tokens themselves)")
        listing.add_argument("--user", required=True, help="username")
        revoke = actions.add_parser("revoke", help="revoke a token so it stops working")
        revoke.add_argument("--user", required=True, help="username")
        revoke.add_argument("--id", type=int, required=True, dest="token_id", help="the id shown by `token list`")

    def handle(self, *args: Any, **options: Any) -> None:
        user = self._user(options["user"])
        if options["action"] == "create":
            self._create(user, options["name"])
        elif options["action"] == "list":
            self._list(user)
        else:
            self._revoke(user, options["token_id"])

    def _user(self, username: str) -> User:
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist as exc:
            raise CommandError(f"no user named {username!r}") from exc

    def _create(self, user: User, name: str) -> None:
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters")
        _token, plaintext = create_api_token(user=user, name=name)
        # Only the token on stdout, so `TOKEN=$(communa token create ...)` works; the advice goes to stderr.
        self.stdout.write(plaintext)
        self.stderr.write("Store this token now: Communa keeps only its SHA-256 digest and cannot show it again.")

    def _list(self, user: User) -> None:
        for token in active_api_tokens(user=user):
            last_used = token.last_used_at.isoformat() if token.last_used_at else "never"
            self.stdout.write(
                f"{token.pk}\t{token.name}\t{token.prefix}…\tcreated {token.created_at.isoformat()}"
                f"\tlast used {last_used}"
            )

    def _revoke(self, user: User, token_id: int) -> None:
        try:
            token = revoke_api_token(user=user, token_id=token_id)
        except ApiToken.DoesNotExist as exc:
            raise CommandError(f"{user.get_username()} has no live token with id {token_id}") from exc
        self.stdout.write(f"revoked {token.name} ({token.prefix}…)")
