"""Members in a real browser (Debian's Chromium through Playwright): review a merge suggestion and open the
merged profile; import a CSV through its preview, watch the progress bar and reach the summary."""

from __future__ import annotations

from typing import Any

import pytest

from communa.accounts.models import User, Workspace
from communa.members import csv_io
from communa.members.models import Identity, Member, MemberImport, MergeSuggestion
from communa.members.services import generate_suggestions, refresh_activity
from tests.browser import test_stream_browser
from tests.conftest import PASSWORD
from tests.members.conftest import say

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

browser = test_stream_browser.browser  # fixtures: Chromium once per module, a fresh tab per test
page = test_stream_browser.page


def sign_in(page: Any, user: User, path: str) -> None:
    page.goto(path)
    page.wait_for_url(f"**/accounts/login/?next={path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{path}")


def test_accept_a_suggestion_then_open_the_merged_profile(page: Any, workspace: Workspace, manager: User) -> None:
    say(workspace, "discord", "40", name="Dmitry Volkov", email="dmitry@example.org", minutes=1)
    say(workspace, "discourse:forum", "7", name="Дмитрий Волков", email="dmitry@example.org", minutes=2)
    refresh_activity(member_ids=Member.objects.values_list("id", flat=True))
    generate_suggestions(workspace=workspace)
    suggestion = MergeSuggestion.objects.get()

    sign_in(page, manager, "/w/acme/members/suggestions/")
    card = page.locator(f"#suggestion-{suggestion.pk}")
    assert "Same email address: dmitry@example.org" in card.inner_text()
    assert "Similar names: Dmitry Volkov / Дмитрий Волков" in card.inner_text()
    # The cards are an ordered list (best first) but show no list numbers beside them.
    assert card.evaluate("li => getComputedStyle(li.parentElement).listStyleType") == "none"
    card.get_by_role("button", name="Merge: same person").click()
    page.wait_for_url("**/w/acme/members/suggestions/")
    assert "Merged into" in page.locator(".messages, [role=status], .alert").first.inner_text()
    assert page.get_by_role("heading", name="Nothing to review").is_visible()

    survivor = Member.objects.get(merged_into__isnull=True, workspace=workspace)
    page.goto("/w/acme/members/")
    page.get_by_role("link", name=str(survivor)).first.click()
    page.wait_for_url(f"**/w/acme/members/{survivor.pk}/")
    assert page.locator(".page-lede").first.inner_text() == "2 identities across platforms"
    rows = page.locator("table tbody tr").filter(has=page.locator("td[data-label='Platform']"))
    platforms = sorted(rows.locator("td[data-label='Platform']").all_inner_texts())
    assert platforms == ["discord", "discourse:forum"]
    assert sorted(i.platform for i in Identity.objects.filter(member=survivor)) == platforms
    assert page.get_by_role("button", name="Undo").count() == 1


def test_import_a_csv_with_preview_and_progress(page: Any, workspace: Workspace, manager: User, tmp_path: Any) -> None:
    say(workspace, "discord", "1", name="Ana Lima", email="ana@example.org")
    csv_file = tmp_path / "members.csv"
    csv_file.write_text(
        "name,email,company,tags\n"
        "Ana Lima,ana@example.org,Acme,speaker\n"
        "Ben Okafor,ben@example.org,,beta\n"
        '=HYPERLINK("http://evil"),eve@example.org,,\n'
        "No key,,,\n",
        encoding="utf-8",
    )

    sign_in(page, manager, "/w/acme/members/import/")
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url("**/w/acme/members/import/*/")
    assert page.locator("#import-summary").inner_text() == "4 rows: 3 ready, 1 with errors."
    assert page.get_by_label("Import column company as").input_value() == "organisation"
    assert '=HYPERLINK("http://evil")' in page.locator("table.import-preview tbody").inner_text()  # text, not a link
    assert "line 5" in page.locator(".import-errors").inner_text()

    page.get_by_role("button", name="Import 3 rows").click()
    page.wait_for_url("**/w/acme/members/import/*/status/")
    job = MemberImport.objects.get()
    progress = page.get_by_label("Progress")
    assert progress.get_attribute("value") == "0"
    assert progress.get_attribute("max") == "4"

    MemberImport.objects.filter(pk=job.pk).update(status="running", processed_rows=2)  # as the task reports it
    page.wait_for_function("document.querySelector('#import-progress progress')?.value === 2")
    assert "2 of 4 rows" in page.locator("#import-progress").inner_text()

    MemberImport.objects.filter(pk=job.pk).update(status="queued", processed_rows=0)
    csv_io.run_import(import_id=job.pk)  # the task, as the worker runs it
    page.wait_for_selector("#import-result", timeout=15_000)
    result = dict(
        zip(
            page.locator("#import-result dt").all_inner_texts(),
            page.locator("#import-result dd").all_inner_texts(),
            strict=True,
        )
    )
    assert result == {"CREATED": "2", "UPDATED": "1", "UNCHANGED": "0", "SKIPPED (ERRORS)": "1"}  # dt in small caps
    assert page.get_by_label("Progress").get_attribute("value") == "1"
    page.get_by_role("link", name="See the members").click()
    page.wait_for_url("**/w/acme/members/")
    assert page.locator("#members-count, .page-lede").first.is_visible()
    assert Member.objects.filter(workspace=workspace, merged_into__isnull=True).count() == 3
