from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, token: str) -> HttpResponse:
    return JsonResponse({"error": "not implemented yet"}, status=501)
