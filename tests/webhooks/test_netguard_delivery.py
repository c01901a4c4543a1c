"""Outbound webhooks go only where the outbound guard (core/netguard.py) allows, checked again at send time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from communa.core import netguard
from communa.webhooks import services
from tests.webhooks.conftest import Receiver


@pytest.fixture
def no_private_networks() -> Iterator[None]:
    with override_settings(COMMUNA_OUTBOUND_ALLOWED_NETWORKS=[]):
        yield


@pytest.mark.django_db
def test_service_refuses_and_delivery_is_not_made(
    workspace: Any, receiver: Receiver, no_private_networks: None
) -> None:
    with pytest.raises(netguard.BlockedDestinationError):
        services.create_endpoint(workspace=workspace, name="n", url="http://127.0.0.1:9/", events=[], actor=None)
    # An endpoint saved while allowed (or whose name later points inside) is refused at send time.
    with override_settings(COMMUNA_OUTBOUND_ALLOWED_NETWORKS=["127.0.0.0/8"]):
        endpoint = services.create_endpoint(
            workspace=workspace, name="n", url=receiver.url, events=["sla.breached"], actor=None
        )
    delivery = services.send_test(endpoint=endpoint, actor=None)
    services.deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert receiver.requests == []
    assert delivery.state == "pending"  # retried on the schedule, in case the operator allows it meanwhile
    assert "COMMUNA_OUTBOUND_ALLOWED_NETWORKS" in delivery.log[-1]["error"]


@pytest.mark.django_db
def test_delivery_reaches_an_allowed_receiver_through_the_pinned_address(workspace: Any, receiver: Receiver) -> None:
    endpoint = services.create_endpoint(
        workspace=workspace, name="n", url=receiver.url.replace("127.0.0.1", "localhost"), events=[], actor=None
    )
    delivery = services.send_test(endpoint=endpoint, actor=None)
    services.deliver(delivery_id=delivery.pk)
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["host"] == endpoint.url.split("/")[2]  # the name, not the address
