"""Writes for outbound webhooks: endpoints, and deliveries made at least once with bounded retries.

A domain event becomes one WebhookDelivery per active endpoint subscribed to it (in the dispatcher's
transaction, so an event is never half fanned out); each delivery is POSTed by a task after commit:

    pending ──claim──► sending ──2xx──────────────► delivered
                          └──error, timeout, non-2xx─► pending (next_attempt_at = now + backoff)
                                                       └─ after MAX_ATTEMPTS ─► failed

The claim is a conditional UPDATE, so two workers never send one attempt twice; a sender that dies while
"sending" lets go when claimed_until passes, and the delivery is tried again (receivers dedupe on
webhook-id). After DISABLE_AFTER consecutive failed attempts the endpoint is turned off with the reason.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.audit.services import record
from communa.core import crypto, netguard
from communa.core import http as core_http
from communa.events.models import DomainEvent
from communa.webhooks import signing
from communa.webhooks.catalog import PING, WEBHOOK_EVENTS
from communa.webhooks.models import WebhookDelivery, WebhookEndpoint

TIMEOUT_SECONDS = 10.0
MAX_ATTEMPTS = 8
BACKOFF_BASE = 30  # seconds before the first retry; ×4 each time: 30 s, 2 min, 8 min, 32 min, 2 h 8 min, 6 h, 6 h
BACKOFF_CAP = 6 * 3600
DISABLE_AFTER = 20  # consecutive failed attempts, over all of an endpoint's deliveries
CLAIM_SECONDS = 60  # longer than the timeout: a live sender always finishes first
RESPONSE_KEPT = 1024  # bytes of the receiver's answer kept for the log


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt, after `attempts` failed ones (≥ 1)."""
    return timedelta(seconds=min(BACKOFF_BASE * 4 ** (attempts - 1), BACKOFF_CAP))


# --- endpoints ----------------------------------------------------------------------------------


def secret_of(endpoint: WebhookEndpoint) -> str:
    return str(crypto.decrypt_json(endpoint.secret).get("secret", ""))


def _clean_events(events: list[str]) -> list[str]:
    return [name for name in WEBHOOK_EVENTS if name in set(events)]


def create_endpoint(
    *, workspace: Workspace, name: str, url: str, events: list[str], actor: User | None
) -> WebhookEndpoint:
    """Raises netguard.BlockedDestinationError for a URL into the server's own networks."""
    netguard.check_url(url)
    endpoint = WebhookEndpoint(
        workspace=workspace,
        name=name,
        url=url,
        events=_clean_events(events),
        secret=crypto.encrypt_json({"secret": signing.new_secret()}),
        created_by=actor,
    )
    with transaction.atomic():
        endpoint.save()
        record(workspace=workspace, actor=actor, action="webhook.created", target=endpoint, data={"url": url})
    return endpoint


def update_endpoint(
    *, endpoint: WebhookEndpoint, name: str, url: str, events: list[str], active: bool, actor: User | None
) -> WebhookEndpoint:
    if url != endpoint.url:
        netguard.check_url(url)
    changes = {"name": name, "url": url, "events": _clean_events(events), "active": active}
    for field, value in changes.items():
        setattr(endpoint, field, value)
    if active:  # a person turning it back on starts a fresh count
        endpoint.disabled_reason = ""
        endpoint.consecutive_failures = 0
    with transaction.atomic():
        endpoint.save(update_fields=[*changes, "disabled_reason", "consecutive_failures", "updated_at"])
        record(workspace=endpoint.workspace, actor=actor, action="webhook.updated", target=endpoint, data=changes)
    return endpoint


def rotate_secret(*, endpoint: WebhookEndpoint, actor: User | None) -> str:
    secret = signing.new_secret()
    endpoint.secret = crypto.encrypt_json({"secret": secret})
    with transaction.atomic():
        endpoint.save(update_fields=["secret", "updated_at"])
        record(workspace=endpoint.workspace, actor=actor, action="webhook.secret_rotated", target=endpoint)
    return secret


def delete_endpoint(*, endpoint: WebhookEndpoint, actor: User | None) -> None:
    with transaction.atomic():
        record(workspace=endpoint.workspace, actor=actor, action="webhook.deleted", target=endpoint)
        endpoint.delete()


# --- deliveries ---------------------------------------------------------------------------------


def _body(*, kind: str, at: datetime, workspace: Workspace, data: dict[str, Any]) -> str:
    payload = {"type": kind, "timestamp": at.isoformat(), "workspace": workspace.slug, "data": data}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def record_deliveries(*, event: DomainEvent) -> list[int]:
    """One pending delivery per active endpoint of the event's workspace subscribed to it; idempotent."""
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(workspace_id=event.workspace_id, active=True)
        if event.name in endpoint.events
    ]
    if not endpoints:
        return []
    workspace = Workspace.objects.get(pk=event.workspace_id)
    body = _body(kind=event.name, at=event.created_at, workspace=workspace, data=event.data)
    message_id = f"evt_{event.pk}"
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                workspace_id=event.workspace_id, endpoint=endpoint, event=event, message_id=message_id,
                event_name=event.name, body=body, next_attempt_at=now,
            )
            for endpoint in endpoints
        ],
        ignore_conflicts=True,
    )  # fmt: skip
    return list(
        WebhookDelivery.objects.filter(
            endpoint__in=endpoints, message_id=message_id, state=WebhookDelivery.State.PENDING
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def send_test(*, endpoint: WebhookEndpoint, actor: User | None) -> WebhookDelivery:
    """A webhook.ping delivery, sent like any other (also to an endpoint that is turned off)."""
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            workspace=endpoint.workspace, endpoint=endpoint, message_id=f"ping_{int(time.time() * 1000)}",
            event_name=PING, next_attempt_at=now,
            body=_body(kind=PING, at=now, workspace=endpoint.workspace, data={"endpoint_id": endpoint.pk}),
        )  # fmt: skip
        record(workspace=endpoint.workspace, actor=actor, action="webhook.tested", target=endpoint)
    return delivery


def redeliver(*, delivery: WebhookDelivery, actor: User | None) -> WebhookDelivery:
    """Try a delivery again now (a failed one, or a waiting one without waiting for its retry time)."""
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).exclude(state=WebhookDelivery.State.SENDING).update(
            state=WebhookDelivery.State.PENDING, next_attempt_at=timezone.now(), attempts=0
        )
        record(
            workspace=delivery.endpoint.workspace, actor=actor, action="webhook.redelivered", target=delivery.endpoint
        )
    delivery.refresh_from_db()
    return delivery


def due_delivery_ids(*, limit: int = 500) -> list[int]:
    now = timezone.now()
    due = Q(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now) | Q(
        state=WebhookDelivery.State.SENDING, claimed_until__lt=now
    )
    return list(WebhookDelivery.objects.filter(due).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def _claim(delivery_id: int, now: datetime) -> bool:
    due = Q(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now) | Q(
        state=WebhookDelivery.State.SENDING, claimed_until__lt=now
    )
    claimed = WebhookDelivery.objects.filter(due, pk=delivery_id).update(
        state=WebhookDelivery.State.SENDING, claimed_until=now + timedelta(seconds=CLAIM_SECONDS)
    )
    return claimed == 1


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str
    response: str
    ms: int


def _post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """One POST, no retries here (the schedule retries), no redirects followed (a 3xx is a failure).

    The host is resolved and checked here, at send time, and the request goes to the address that was checked
    (netguard.pin), so a name that has since been pointed at a private address is refused, not followed.
    """
    started = time.monotonic()
    status, error, answer = None, "", b""
    try:
        target = netguard.pin(url)
        with (
            core_http.client(timeout=TIMEOUT_SECONDS, headers={**headers, "Host": target.host_header}) as http,
            http.stream(
                "POST",
                target.url,
                content=body,
                follow_redirects=False,
                extensions={"sni_hostname": target.host},
            ) as response,
        ):
            status = response.status_code
            for chunk in response.iter_bytes():
                answer += chunk
                if len(answer) >= RESPONSE_KEPT:
                    break
    except netguard.BlockedDestinationError as exc:
        error = str(exc)
    except httpx.TimeoutException:
        error = f"timed out after {TIMEOUT_SECONDS:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    ms = int((time.monotonic() - started) * 1000)
    if status is not None and not 200 <= status < 300:
        error = f"HTTP {status}"
    text = answer[:RESPONSE_KEPT].decode("utf-8", errors="replace")
    return Outcome(ok=not error, status_code=status, error=error, response=text, ms=ms)


def deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """Claim the delivery and make one attempt; None when it was not due (sent, claimed, or gone)."""
    now = timezone.now()
    if not _claim(delivery_id, now):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.active and delivery.event_name != PING:
        _settle(delivery, Outcome(False, None, "the endpoint is turned off", "", 0), give_up=True, count=False)
        return delivery
    body = delivery.body.encode()
    headers = signing.headers(
        secret=secret_of(endpoint), message_id=delivery.message_id, timestamp=int(time.time()), body=body
    )
    outcome = _post(endpoint.url, body, headers)
    _settle(delivery, outcome, give_up=delivery.attempts + 1 >= MAX_ATTEMPTS, count=True)
    return delivery


def _settle(delivery: WebhookDelivery, outcome: Outcome, *, give_up: bool, count: bool) -> None:
    now = timezone.now()
    delivery.attempts += 1
    delivery.log = [
        *delivery.log[-(MAX_ATTEMPTS - 1) :],
        {"at": now.isoformat(), "status_code": outcome.status_code, "error": outcome.error, "ms": outcome.ms},
    ]
    delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
    delivery.last_response, delivery.last_duration_ms = outcome.response, outcome.ms
    delivery.claimed_until = None
    if outcome.ok:
        delivery.state, delivery.delivered_at = WebhookDelivery.State.DELIVERED, now
    elif give_up:
        delivery.state = WebhookDelivery.State.FAILED
    else:
        delivery.state, delivery.next_attempt_at = WebhookDelivery.State.PENDING, now + backoff(delivery.attempts)
    fields = ["attempts", "log", "last_status_code", "last_error", "last_response", "last_duration_ms"]
    with transaction.atomic():
        delivery.save(update_fields=[*fields, "claimed_until", "state", "delivered_at", "next_attempt_at"])
        if count:
            _count(delivery.endpoint, ok=outcome.ok, now=now)


def _count(endpoint: WebhookEndpoint, *, ok: bool, now: datetime) -> None:
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    if ok:
        endpoints.update(consecutive_failures=0, last_success_at=now)
        return
    endpoints.update(consecutive_failures=F("consecutive_failures") + 1, last_failure_at=now)
    reason = f"turned off after {DISABLE_AFTER} failed attempts in a row"
    turned_off = endpoints.filter(active=True, consecutive_failures__gte=DISABLE_AFTER).update(
        active=False, disabled_reason=reason
    )
    if turned_off:
        WebhookDelivery.objects.filter(endpoint_id=endpoint.pk, state=WebhookDelivery.State.PENDING).update(
            state=WebhookDelivery.State.FAILED, last_error="the endpoint was turned off"
        )
        record(
            workspace=endpoint.workspace,
            actor=None,
            action="webhook.disabled",
            target=endpoint,
            data={"reason": reason},
        )
