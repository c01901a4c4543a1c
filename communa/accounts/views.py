"""Account pages: the signed-in user's own settings."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    """The user's own settings: language, time zone and API tokens."""
    return render(request, "accounts/settings.html", {})
