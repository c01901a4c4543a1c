"""The inbound webhook endpoint: POST /hooks/<token>, one per source (docs/connectors/webhook.md).

The view only checks what needs HTTP (the address, the size, the source's state) and hands the rest to the
source's connector; a refused push is recorded as a RejectedEvent, with nothing else stored, so an operator
can see why a sender's deliveries fail.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from communa.connectors.base import Capability, WebhookRejected, WebhookRequest
from communa.connectors.models import Source, SourceStatus
from communa.connectors.registry import CONNECTORS, connector_class
from communa.connectors.services import build_connector
from communa.core.crypto import SecretDecryptionError
from communa.ingest.models import RejectedEvent
from communa.ingest.services import ingest_events
from communa.ingest.text import clean_text

logger = logging.getLogger(__name__)

EXCERPT_BYTES = 2048


@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, token: str) -> HttpResponse:
    """Accept a signed push for the source whose webhook token is `token`; 202 with counts, or an error."""
    source = _webhook_source(token)
    if source is None:
        return _reject(request, None, 404, "no webhook source at this address", request.read(EXCERPT_BYTES))
    limit = settings.COMMUNA_WEBHOOK_MAX_BYTES
    too_large = f"the body is larger than {limit} bytes"
    if _declared_length(request) > limit:
        return _reject(request, source, 413, too_large, request.read(EXCERPT_BYTES))
    # The declared length may be absent (chunked upload) or wrong: the body itself is measured too.
    body = request.read(limit + 1)
    if len(body) > limit:
        return _reject(request, source, 413, too_large, body)
    try:
        connector = build_connector(source)
        items = connector.parse_webhook(WebhookRequest(body=body, headers=_lower_headers(request)))
    except WebhookRejected as exc:
        return _reject(request, source, exc.status, exc.reason, body)
    except SecretDecryptionError:
        logger.error("webhook source %s: its secret cannot be decrypted (was COMMUNA_SECRET_KEY changed?)", source.pk)
        return _reject(request, source, 503, "this source's secret cannot be read by the server", body)
    if source.status in {SourceStatus.PAUSED, SourceStatus.DISABLED}:
        state = "paused" if source.status == SourceStatus.PAUSED else "disabled"
        return _reject(request, source, 409, f"the source is {state} in Communa and accepts no events", body)
    result = ingest_events(source=source, events=items, connector=connector)
    return JsonResponse({"accepted": len(items), "created": result.created}, status=202)


def _webhook_source(token: str) -> Source | None:
    kinds = [kind for kind in CONNECTORS if Capability.WEBHOOK in connector_class(kind).capabilities]
    return Source.objects.select_related("workspace").filter(webhook_token=token, kind__in=kinds).first()


def _declared_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _lower_headers(request: HttpRequest) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


def _reject(request: HttpRequest, source: Source | None, status: int, reason: str, body: bytes = b"") -> JsonResponse:
    RejectedEvent.objects.create(
        source=source,
        status=status,
        reason=reason[:500],
        body_excerpt=clean_text(body[:EXCERPT_BYTES].decode("utf-8", "replace")),
        remote_addr=str(request.META.get("REMOTE_ADDR", ""))[:64],
    )
    return JsonResponse({"error": reason}, status=status)
