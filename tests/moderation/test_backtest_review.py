"""False-positive review of backtests: moderators mark examples, the backtest estimates precision from the
marks, and marks carry over to the next backtest of the same rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.audit.models import AuditEntry
from communa.connectors.models import Source
from communa.moderation import selectors, services
from communa.moderation.models import Backtest, BacktestMark
from tests.conftest import login
from tests.moderation.conftest import RULES, post

pytestmark = pytest.mark.django_db
BASE = "/w/acme/moderation/"


@pytest.fixture
def run(workspace: Workspace, manager: User, fake_source: Source) -> Backtest:
    now = timezone.now()
    for n, text in enumerate(["idiota!", "hello", "the idiot box is on", "idiota davvero"]):
        message = post(fake_source, f"h{n}", text, author=f"a{n}")
        message.created_at = now - timedelta(hours=n + 1)
        message.save(update_fields=["created_at"])
    rule_set = services.save_rule_set(workspace=workspace, text=RULES, modes={}, actor=manager)
    return services.run_backtest(workspace=workspace, rule_set=rule_set, days=7, actor=manager)


def example_id(run: Backtest, text: str) -> int:
    return next(int(e["message_id"]) for e in run.examples if e["text"] == text)


def test_marks_estimate_precision_and_carry_over_to_the_next_backtest(
    client: Client, workspace: Workspace, volunteer: User, manager: User, run: Backtest
) -> None:
    assert len(run.examples) == 3
    login(client, volunteer)
    url = BASE + f"backtests/{run.pk}/examples/{{}}/mark/"
    for text, verdict in (("idiota!", "correct"), ("idiota davvero", "correct"), ("the idiot box is on", "wrong")):
        response = client.post(url.format(example_id(run, text)), {"rule_id": "no-insults", "verdict": verdict})
        assert response.status_code == 302
        assert response["Location"].endswith(f"/backtests/{run.pk}/#example-{example_id(run, text)}")

    page = client.get(BASE + f"backtests/{run.pk}/")
    precision = page.context["precision"]
    assert (precision.correct, precision.wrong, precision.examples, precision.estimate) == (2, 1, 3, 2 / 3)
    low, high = precision.interval
    assert (round(low, 3), round(high, 3)) == (0.208, 0.939)
    assert "67%" in page.content.decode()
    assert [e["mark"] for e in page.context["examples"]] == ["correct", "wrong", "correct"]  # newest first

    # The rule is edited (same id) and backtested again: the marks are there for the same messages.
    text = RULES.replace("words: [idiota, idiot]", "words: [idiota]")
    version2 = services.save_rule_set(workspace=workspace, text=text, modes={}, actor=manager)
    again = services.run_backtest(workspace=workspace, rule_set=version2, days=7, actor=manager)
    marks = selectors.backtest_marks(workspace=workspace, backtest=again)
    overall, per_rule = selectors.backtest_precision(again.examples, marks)
    assert (overall.correct, overall.wrong, overall.examples, overall.estimate) == (2, 0, 2, 1.0)
    assert per_rule["no-insults"] == overall

    client.post(url.format(example_id(run, "idiota!")), {"rule_id": "no-insults", "verdict": ""})  # clear
    assert sorted(BacktestMark.objects.values_list("verdict", flat=True)) == ["correct", "wrong"]
    assert AuditEntry.objects.filter(action="moderation.backtest_marked").count() == 4


def test_a_mark_must_name_an_example_of_that_backtest(
    client: Client, workspace: Workspace, manager: User, run: Backtest
) -> None:
    login(client, manager)
    not_an_example = run.examples[0]["message_id"] + 1000
    response = client.post(
        BASE + f"backtests/{run.pk}/examples/{not_an_example}/mark/",
        {"rule_id": "no-insults", "verdict": "wrong"},
        follow=True,
    )
    assert "This message is not an example of this backtest." in response.content.decode()
    bad = client.post(
        BASE + f"backtests/{run.pk}/examples/{example_id(run, 'idiota!')}/mark/",
        {"rule_id": "no-insults", "verdict": "maybe"},
        follow=True,
    )
    assert "Unknown verdict." in bad.content.decode()
    assert not BacktestMark.objects.exists()
    page = client.get(BASE + f"backtests/{run.pk}/")
    assert page.context["precision"].estimate is None
    assert "not reviewed yet" in page.content.decode()


def test_outsiders_get_404_and_analysts_403_and_nothing_is_marked(
    client: Client, outsider: User, analyst: User, run: Backtest
) -> None:
    url = BASE + f"backtests/{run.pk}/examples/{example_id(run, 'idiota!')}/mark/"
    login(client, outsider)
    assert client.post(url, {"rule_id": "no-insults", "verdict": "wrong"}).status_code == 404
    login(client, analyst)
    assert client.post(url, {"rule_id": "no-insults", "verdict": "wrong"}).status_code == 403
    assert not BacktestMark.objects.exists()
