from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from communa.accounts.middleware import activate_preferences
from communa.accounts.services import user_for_api_token


class ApiTokenAuth(HttpBearer):
    """`Authorization: Bearer <token>` with a personal token (accounts.ApiToken); anything else is a 401."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = user_for_api_token(token)
        if user is not None:
            request.user = user
            # Dates in filters mean days in the user's time zone, as on the pages.
            activate_preferences(user)
        return user
