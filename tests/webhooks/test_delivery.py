"""Outbound webhooks: fan-out of domain events, signed delivery to a real local server, retries, turning off."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.events.dispatch import dispatch_pending
from communa.events.models import DomainEvent
from communa.events.services import emit
from communa.webhooks import services, signing
from communa.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.webhooks.conftest import Receiver

pytestmark = pytest.mark.django_db
TABLE = {name: ["communa.webhooks.tasks.on_event"] for name in ("conversation.created", "sla.breached")}
CREATED = {"conversation_id": 7, "source_id": 3, "reason": "question", "opened_at": "2026-03-02T09:00:00+00:00",
           "member_id": 11}  # fmt: skip


def endpoint(workspace: Workspace, url: str, events: list[str] | None = None, **changes: object) -> WebhookEndpoint:
    made = services.create_endpoint(
        workspace=workspace, name="Helpdesk", url=url, events=events or ["conversation.created"], actor=None
    )
    if changes:
        WebhookEndpoint.objects.filter(pk=made.pk).update(**changes)
        made.refresh_from_db()
    return made


def fan_out(
    workspace: Workspace, name: str = "conversation.created", data: dict[str, object] | None = None
) -> list[int]:
    emit(workspace_id=workspace.pk, name=name, data=data or CREATED)
    dispatch_pending(subscribers=TABLE)
    return list(WebhookDelivery.objects.order_by("pk").values_list("pk", flat=True))


def test_standard_webhooks_test_vector() -> None:
    """The example from the Standard Webhooks specification, so any of its libraries verifies us."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = signing.sign(secret=secret, message_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_verify_refuses_tampering_and_old_timestamps() -> None:
    secret = signing.new_secret()
    headers = signing.headers(secret=secret, message_id="evt_1", timestamp=1_000_000, body=b"{}")
    assert signing.verify(secret=secret, headers=headers, body=b"{}", now=1_000_100) is True
    assert signing.verify(secret=secret, headers=headers, body=b"{ }", now=1_000_100) is False
    assert signing.verify(secret=secret, headers=headers, body=b"{}", now=1_000_301) is False
    assert signing.verify(secret=signing.new_secret(), headers=headers, body=b"{}", now=1_000_100) is False


def test_the_secret_is_encrypted_at_rest(workspace: Workspace) -> None:
    made = endpoint(workspace, "https://example.org/hook")
    secret = services.secret_of(made)
    assert secret.startswith("whsec_")
    assert len(secret) == len("whsec_") + 44
    assert secret not in made.secret
    assert "whsec_" not in WebhookEndpoint.objects.values_list("secret", flat=True).get(pk=made.pk)


def test_an_event_becomes_one_delivery_per_subscribed_active_endpoint(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    wanted = endpoint(workspace, "https://a.example/hook")
    endpoint(workspace, "https://b.example/hook", events=["sla.breached"])  # not subscribed
    endpoint(workspace, "https://c.example/hook", active=False)  # paused
    endpoint(other_workspace, "https://d.example/hook")  # another workspace's

    ids = fan_out(workspace)

    delivery = WebhookDelivery.objects.get()
    event = DomainEvent.objects.get()
    assert ids == [delivery.pk]
    assert (delivery.endpoint_id, delivery.workspace_id, delivery.state) == (wanted.pk, workspace.pk, "pending")
    assert delivery.message_id == f"evt_{event.pk}"
    assert json.loads(delivery.body) == {
        "type": "conversation.created",
        "timestamp": event.created_at.isoformat(),
        "workspace": "acme",
        "data": CREATED,
    }
    # Running the subscriber again (a crash before the event was marked dispatched) adds nothing.
    assert services.record_deliveries(event=event) == [delivery.pk]
    assert WebhookDelivery.objects.count() == 1


def test_delivery_is_signed_and_logged(workspace: Workspace, receiver: Receiver) -> None:
    receiver.answer(200, b'{"received": true}')
    made = endpoint(workspace, receiver.url)
    (delivery_id,) = fan_out(workspace)

    delivered = services.deliver(delivery_id=delivery_id)

    assert delivered is not None
    (request,) = receiver.requests
    assert request.path == "/hooks/communa"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == delivered.message_id
    assert request.body == delivered.body.encode()
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    now = int(time.time())
    assert signing.verify(secret=services.secret_of(made), headers=request.headers, body=request.body, now=now)
    delivered.refresh_from_db()
    assert (delivered.state, delivered.attempts, delivered.last_status_code) == ("delivered", 1, 200)
    assert (delivered.last_error, delivered.last_response) == ("", '{"received": true}')
    assert [(entry["status_code"], entry["error"]) for entry in delivered.log] == [(200, "")]
    made.refresh_from_db()
    assert made.last_success_at is not None
    assert made.consecutive_failures == 0
    # Delivered: running the task again sends nothing.
    assert services.deliver(delivery_id=delivery_id) is None
    assert len(receiver.requests) == 1


def test_a_failure_is_retried_with_bounded_exponential_backoff(workspace: Workspace, receiver: Receiver) -> None:
    receiver.answer(503, b"busy")
    made = endpoint(workspace, receiver.url)
    (delivery_id,) = fan_out(workspace)

    before = timezone.now()
    services.deliver(delivery_id=delivery_id)
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, 503)
    assert (delivery.last_error, delivery.last_response) == ("HTTP 503", "busy")
    assert before + timedelta(seconds=30) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=30)
    # Not due yet: neither the sweep nor a second task touches it.
    assert services.due_delivery_ids() == []
    assert services.deliver(delivery_id=delivery_id) is None
    assert len(receiver.requests) == 1

    waits = [services.backoff(n).total_seconds() for n in range(1, services.MAX_ATTEMPTS)]
    assert waits == [30, 120, 480, 1920, 7680, 21600, 21600]
    for _ in range(services.MAX_ATTEMPTS - 1):
        WebhookDelivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())
        assert services.due_delivery_ids() == [delivery_id]
        services.deliver(delivery_id=delivery_id)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, len(delivery.log)) == (
        "failed",
        services.MAX_ATTEMPTS,
        services.MAX_ATTEMPTS,
    )
    assert len(receiver.requests) == services.MAX_ATTEMPTS
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # the same id on every attempt
    assert services.due_delivery_ids() == []
    made.refresh_from_db()
    assert (made.active, made.consecutive_failures) == (True, services.MAX_ATTEMPTS)


def test_a_slow_receiver_times_out(workspace: Workspace, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "TIMEOUT_SECONDS", 0.3)
    receiver.answer(200, b"late", delay=1.0)
    endpoint(workspace, receiver.url)
    (delivery_id,) = fan_out(workspace)

    services.deliver(delivery_id=delivery_id)

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.state, delivery.last_status_code, delivery.last_error) == (
        "pending",
        None,
        "timed out after 0.3 s",
    )


def test_redirects_are_failures_not_followed(workspace: Workspace, receiver: Receiver) -> None:
    receiver.answer(302, location="http://127.0.0.1:9/elsewhere")
    endpoint(workspace, receiver.url)
    (delivery_id,) = fan_out(workspace)

    services.deliver(delivery_id=delivery_id)

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.state, delivery.last_status_code, delivery.last_error) == ("pending", 302, "HTTP 302")
    assert len(receiver.requests) == 1


def test_an_unreachable_endpoint_records_the_reason(workspace: Workspace, receiver: Receiver) -> None:
    endpoint(workspace, "http://127.0.0.1:9/nothing-listens-here")
    (delivery_id,) = fan_out(workspace)

    services.deliver(delivery_id=delivery_id)

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.state == "pending"
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("ConnectError:")


def test_the_endpoint_is_turned_off_after_consecutive_failures(
    workspace: Workspace, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "DISABLE_AFTER", 3)
    receiver.answer(500)
    made = endpoint(workspace, receiver.url, events=["conversation.created", "sla.breached"])
    first, second = fan_out(workspace), None
    second = fan_out(workspace, "sla.breached", {"conversation_id": 7})[-1]
    services.deliver(delivery_id=first[0])
    services.deliver(delivery_id=second)
    made.refresh_from_db()
    assert (made.active, made.consecutive_failures) == (True, 2)

    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    services.deliver(delivery_id=first[0])

    made.refresh_from_db()
    assert (made.active, made.consecutive_failures) == (False, 3)
    assert made.disabled_reason == "turned off after 3 failed attempts in a row"
    states = dict(WebhookDelivery.objects.values_list("pk", "state"))
    assert states == {first[0]: "failed", second: "failed"}
    assert fan_out(workspace)[-1] == second  # no new deliveries while it is off
    # A person turning it on again starts a fresh count.
    services.update_endpoint(endpoint=made, name=made.name, url=made.url, events=made.events, active=True, actor=None)
    made.refresh_from_db()
    assert (made.active, made.consecutive_failures, made.disabled_reason) == (True, 0, "")


def test_a_success_resets_the_failure_count(workspace: Workspace, receiver: Receiver) -> None:
    receiver.answers = [(500, b"", 0.0), (204, b"", 0.0)]
    made = endpoint(workspace, receiver.url)
    (delivery_id,) = fan_out(workspace)
    services.deliver(delivery_id=delivery_id)
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    services.deliver(delivery_id=delivery_id)
    made.refresh_from_db()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, [e["status_code"] for e in delivery.log]) == ("delivered", 2, [500, 204])
    assert made.consecutive_failures == 0


def test_a_dead_senders_claim_expires(workspace: Workspace, receiver: Receiver) -> None:
    endpoint(workspace, receiver.url)
    (delivery_id,) = fan_out(workspace)
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        state="sending", claimed_until=timezone.now() + timedelta(seconds=30)
    )
    assert services.deliver(delivery_id=delivery_id) is None  # someone is sending it
    WebhookDelivery.objects.filter(pk=delivery_id).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert services.due_delivery_ids() == [delivery_id]
    delivered = services.deliver(delivery_id=delivery_id)
    assert delivered is not None
    assert delivered.state == "delivered"


def test_ping_and_redeliver(workspace: Workspace, receiver: Receiver, owner: User) -> None:
    made = endpoint(workspace, receiver.url)
    ping = services.send_test(endpoint=made, actor=owner)
    services.deliver(delivery_id=ping.pk)
    assert json.loads(receiver.requests[0].body)["type"] == "webhook.ping"
    assert json.loads(receiver.requests[0].body)["data"] == {"endpoint_id": made.pk}

    WebhookDelivery.objects.filter(pk=ping.pk).update(state="failed", attempts=8)
    again = services.redeliver(delivery=WebhookDelivery.objects.get(pk=ping.pk), actor=owner)
    assert (again.state, again.attempts) == ("pending", 0)
    services.deliver(delivery_id=ping.pk)
    assert len(receiver.requests) == 2
    assert receiver.requests[1].headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]


def test_every_catalogued_event_reaches_the_webhooks_subscriber() -> None:
    from communa.events.periodic import PERIODIC
    from communa.events.subscribers import SUBSCRIBERS
    from communa.webhooks.catalog import WEBHOOK_EVENTS

    assert [name for name in WEBHOOK_EVENTS if "communa.webhooks.tasks.on_event" not in SUBSCRIBERS.get(name, [])] == []
    assert PERIODIC["communa.webhooks.tasks.retry_due"] == 15.0


def test_the_subscriber_queues_delivery_after_commit(
    workspace: Workspace, receiver: Receiver, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from communa.webhooks import tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks, "deliver_webhook_task", SimpleNamespace(enqueue=queued.append))
    endpoint(workspace, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        emit(workspace_id=workspace.pk, name="conversation.created", data=CREATED)
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_pending(subscribers=TABLE)
    assert queued == list(WebhookDelivery.objects.values_list("pk", flat=True))
    assert len(queued) == 1
    queued.clear()
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() + timedelta(minutes=1))
    tasks.retry_due()
    assert queued == []
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    tasks.retry_due()
    assert len(queued) == 1
