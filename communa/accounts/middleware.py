"""Apply a signed-in user's own language and time zone to each request."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from communa.accounts.models import User


def activate_preferences(user: User) -> None:
    """Use the user's saved time zone (and language) for this thread; empty settings change nothing."""
    if user.language:
        translation.activate(user.language)
    if user.time_zone:
        try:
            timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()


class UserPreferencesMiddleware:
    """Runs after AuthenticationMiddleware: the account's language beats the browser's.

    The API authenticates inside the view (bearer tokens) and calls `activate_preferences` itself; this
    middleware still resets the time zone afterwards so it never leaks into the next request on the thread.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if isinstance(user, User) and user.is_authenticated:
            activate_preferences(user)
            if user.language:
                request.LANGUAGE_CODE = user.language
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
