"""Identity resolution: keys, evidence, suggestions, automatic merges and never-suggest-again."""

from __future__ import annotations

import pytest

from communa.accounts.models import User, Workspace
from communa.members.models import Member, MergeRecord, MergeSuggestion
from communa.members.resolution import (
    email_key,
    handle_form,
    handle_key,
    is_handle_variant,
    keys_for,
    name_key,
    name_similarity,
)
from communa.members.selectors import pending_suggestions
from communa.members.services import decide_suggestion, generate_suggestions, trust_email_platform
from tests.members.conftest import say


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Дмитрий Волков", "Dmitry Volkov"),
        ("Dmitrii Volkov", "Dmitry Volkov"),
        ("José Muñoz", "Jose Munoz"),
        ("Юлия Смирнова", "Julia Smirnova"),
        ("Muñoz José", "jose munoz"),
        # Several romanisations of Russian: BGN/PCGN, ISO 9, passports, older French/German spellings.
        ("Екатерина Фёдорова", "Yekaterina Fyodorova"),
        ("Наталья Кузнецова", "Natalia Kuznetsova"),
        ("Дмитрий Кузнецов", "Dmitrij Kuznecov"),
        ("Михаил Кузнецов", "Michail Kuznetsoff"),
        ("Артём Ковалёв", "Artyom Kovalyov"),
        ("Егор Зайцев", "Yegor Zajcev"),
    ],
)
def test_transliterated_and_accented_names_share_a_key(a: str, b: str) -> None:
    assert name_key(a) == name_key(b) != ""
    assert name_similarity(a, b) == 100


def test_keys_fold_handles_across_platform_conventions() -> None:
    assert handle_key("@Lucia_R:matrix.org", "matrix:matrix.org") == "luciar"
    assert handle_key("lucia-r.bsky.social", "bsky.social") == "luciar"
    assert handle_key("LuciaR", "irc:libera.chat") == "luciar"
    assert handle_key("support", "email") == ""  # generic: never evidence
    assert handle_key("ab", "irc") == ""  # too short
    assert email_key("  Ana@Example.ORG ") == "ana@example.org"
    assert email_key("not-an-email") == ""
    assert name_key("Dmitry") == ""  # a first name alone says nothing
    assert handle_key("admin42", "irc") == ""  # a generic word with a number is still generic


def test_handle_forms_keep_the_word_breaks_people_chose() -> None:
    assert handle_form("@Jan.Koch:matrix.org", "matrix:matrix.org") == "jan.koch"
    assert handle_form("jan__koch", "irc:libera.chat") == "jan_koch"
    assert handle_form("jankoch", "irc:libera.chat") == "jankoch"
    # Bluesky allows only "-": its "jan-koch" may be "jan.koch" or "jan_koch" elsewhere.
    assert handle_form("jan-koch.bsky.social", "bsky.social") == "jan~koch"


def test_numbered_variants() -> None:
    assert is_handle_variant("analima82", "analima8217")
    assert is_handle_variant("analima82", "analima823")
    assert not is_handle_variant("analima", "analima82")  # a name plus a number: what strangers pick too
    assert not is_handle_variant("analima8", "analima82")  # one digit: not distinctive
    assert not is_handle_variant("analima82", "analima82173")  # three more digits: another number
    assert not is_handle_variant("analima82", "analima82x")


def test_a_display_name_that_is_the_handle_is_no_name() -> None:
    assert keys_for(platform="irc:libera.chat", handle="jan_koch", display_name="jan_koch", email="").name == ""
    matrix = keys_for(platform="matrix:m.org", handle="@jan.koch:m.org", display_name="jan.koch", email="")
    assert matrix.name == ""
    assert keys_for(platform="irc:libera.chat", handle="jankoch", display_name="Jan Koch", email="").name != ""


def test_different_names_are_not_similar() -> None:
    assert name_key("Maria Rossi") != name_key("Mario Rossi")
    assert name_similarity("Anna Bianchi", "Giulia Ferri") < 50


def pair(suggestion: MergeSuggestion) -> tuple[int, int]:
    return suggestion.member_a_id, suggestion.member_b_id


def test_same_unverified_email_on_two_platforms_is_a_suggestion(workspace: Workspace) -> None:
    forum = say(workspace, "discourse:forum", "101", name="Ana Lima", handle="analima", email="Ana@example.org")
    mail = say(workspace, "email", "ana@example.org", name="Ana Lima", handle="ana", email="ana@example.org")

    result = generate_suggestions(workspace=workspace)

    assert (result.suggested, result.merged) == (1, 0)
    suggestion = MergeSuggestion.objects.get(workspace=workspace)
    assert pair(suggestion) == tuple(sorted((forum.member_id, mail.member_id)))
    assert suggestion.status == "pending"
    codes = [r["code"] for r in suggestion.reasons]
    assert codes == ["same_email", "similar_name"]
    assert suggestion.reasons[0]["verified"] is False
    assert suggestion.score == round(1 - (1 - 0.9) * (1 - 0.6), 3)


def test_same_handle_on_different_platforms_and_a_cyrillic_name(workspace: Workspace) -> None:
    matrix = say(
        workspace, "matrix:example.org", "@dvolkov:example.org", name="Дмитрий Волков", handle="@dvolkov:example.org"
    )
    irc = say(workspace, "irc:libera.chat", "dvolkov", name="dvolkov", handle="dvolkov")
    forum = say(workspace, "discourse:forum", "7", name="Dmitry Volkov", handle="dima")
    say(workspace, "discourse:forum", "8", name="Someone Else", handle="else")

    generate_suggestions(workspace=workspace)

    found = {pair(s): [r["code"] for r in s.reasons] for s in MergeSuggestion.objects.filter(workspace=workspace)}
    assert found == {
        tuple(sorted((matrix.member_id, irc.member_id))): ["same_handle"],
        tuple(sorted((matrix.member_id, forum.member_id))): ["similar_name"],
    }


def test_same_handle_on_one_platform_is_no_evidence(workspace: Workspace) -> None:
    say(workspace, "discourse:forum", "1", name="A", handle="marco")
    say(workspace, "discourse:forum", "2", name="B", handle="marco")
    assert generate_suggestions(workspace=workspace).suggested == 0


def test_verified_emails_merge_automatically(workspace: Workspace) -> None:
    """The "email" platform verifies addresses; an operator rule can trust another platform's emails."""
    mail = say(workspace, "email", "ana@example.org", name="Ana", email="ana@example.org")
    forum = say(workspace, "discourse:forum", "101", name="Ana L", handle="al", email="ana@example.org")
    assert generate_suggestions(workspace=workspace).merged == 0  # the forum's email is not verified

    trust_email_platform(workspace=workspace, platform="discourse:forum", actor=None)
    result = generate_suggestions(workspace=workspace)

    assert result.merged == 1
    record = MergeRecord.objects.get(workspace=workspace)
    assert (record.into_id, record.merged_id, record.reason) == (mail.member_id, forum.member_id, "verified_email")
    forum.refresh_from_db()
    assert forum.member_id == mail.member_id


def test_rejected_pairs_are_never_suggested_again(workspace: Workspace, owner: User) -> None:
    a = say(workspace, "matrix:example.org", "@marta:example.org", handle="@marta:example.org", name="Marta V")
    b = say(workspace, "irc:libera.chat", "marta", handle="marta", name="marta")
    c = say(workspace, "bsky.social", "did:plc:x", handle="marta.bsky.social", name="Marta V")
    generate_suggestions(workspace=workspace)
    ab = MergeSuggestion.objects.get(member_a=min(a.member_id, b.member_id), member_b=max(a.member_id, b.member_id))
    decide_suggestion(workspace=workspace, suggestion=ab, accept=False, actor=owner)

    generate_suggestions(workspace=workspace)
    ab.refresh_from_db()
    assert (ab.status, ab.decided_by) == ("rejected", owner)

    # c is merged into a: the rejected pair (a, b) is still rejected for the merged member.
    ac = MergeSuggestion.objects.get(member_a=min(a.member_id, c.member_id), member_b=max(a.member_id, c.member_id))
    decide_suggestion(workspace=workspace, suggestion=ac, accept=True, actor=owner)
    survivor = Member.objects.get(pk=ac.member_a_id)
    generate_suggestions(workspace=workspace)
    # The old (b, c) suggestion now means (b, a), which was rejected: the queue leaves it out.
    assert [pair(s) for s in pending_suggestions(workspace=workspace)] == []
    assert survivor.identities.count() == 2


def test_incremental_generation_after_ingest(workspace: Workspace) -> None:
    from communa.members.services import process_ingested
    from communa.stream.models import Message

    first = say(workspace, "irc:libera.chat", "paolo_b", handle="paolo_b", name="paolo_b")
    assert (
        process_ingested(workspace=workspace, message_ids=list(Message.objects.values_list("id", flat=True))).suggested
        == 0
    )
    second = say(workspace, "matrix:example.org", "@paolo_b:example.org", handle="@paolo_b:example.org", name="Paolo B")
    ids = list(Message.objects.filter(identity=second).values_list("id", flat=True))

    result = process_ingested(workspace=workspace, message_ids=ids)

    assert result.suggested == 1
    assert pair(MergeSuggestion.objects.get()) == tuple(sorted((first.member_id, second.member_id)))
    assert Member.objects.get(pk=second.member_id).message_count == 1


def test_other_workspaces_are_never_candidates(workspace: Workspace, other_workspace: Workspace) -> None:
    say(workspace, "irc:libera.chat", "paolo_b", handle="paolo_b")
    say(other_workspace, "matrix:example.org", "@paolo_b:x", handle="@paolo_b:x")
    assert generate_suggestions(workspace=workspace).suggested == 0
    assert generate_suggestions(workspace=other_workspace).suggested == 0


def test_a_name_alone_is_not_enough_when_common_or_on_one_platform(workspace: Workspace) -> None:
    say(workspace, "discourse:forum", "1", name="Анна Лебедева")
    say(workspace, "discourse:forum", "2", name="Anna Lebedeva")  # same platform: two accounts, two people
    assert generate_suggestions(workspace=workspace).suggested == 0
    say(workspace, "matrix:example.org", "@al:example.org", name="Anna Lebedeva")  # a third bearer: common
    assert generate_suggestions(workspace=workspace).suggested == 0


def test_a_numbered_variant_of_a_handle_is_a_suggestion(workspace: Workspace) -> None:
    forum = say(workspace, "discourse:forum", "1", name="Ana", handle="ana_lima82")
    matrix = say(workspace, "matrix:example.org", "@ana_lima8217:example.org", handle="@ana_lima8217:example.org")
    say(workspace, "irc:libera.chat", "analima8217", handle="analima8217")  # other word breaks: someone else

    generate_suggestions(workspace=workspace)

    suggestion = MergeSuggestion.objects.get(workspace=workspace)
    assert pair(suggestion) == tuple(sorted((forum.member_id, matrix.member_id)))
    assert [(r["code"], r["weight"]) for r in suggestion.reasons] == [("handle_variant", 0.6)]


def test_a_numbered_variant_held_by_two_people_on_one_platform_is_weak(workspace: Workspace) -> None:
    say(workspace, "discourse:forum", "1", handle="mega_sale_365")
    say(workspace, "discourse:forum", "2", handle="mega_sale_36589")
    say(workspace, "matrix:example.org", "@mega_sale_36589:x", handle="@mega_sale_36589:x")
    generate_suggestions(workspace=workspace)
    scores = sorted(MergeSuggestion.objects.filter(workspace=workspace).values_list("score", flat=True))
    assert scores == [0.7]  # only the same handle; the variant (0.3) suggests nothing


def test_the_same_handle_written_differently_is_weak(workspace: Workspace) -> None:
    say(workspace, "discourse:forum", "1", handle="jan.koch")
    say(workspace, "matrix:example.org", "@jankoch:x", handle="@jankoch:x")
    generate_suggestions(workspace=workspace)
    assert not MergeSuggestion.objects.filter(workspace=workspace).exists()


def test_a_bluesky_handle_is_ambiguous_when_both_spellings_are_other_people(workspace: Workspace) -> None:
    dot = say(workspace, "discourse:forum", "1", handle="jan.koch")
    say(workspace, "matrix:example.org", "@jan_koch:x", handle="@jan_koch:x")
    dot_matrix = say(workspace, "irc:libera.chat", "jan.koch", handle="jan.koch")
    say(workspace, "bsky.social", "did:plc:1", handle="jan-koch.bsky.social")

    generate_suggestions(workspace=workspace)

    suggestions = {pair(s): s.score for s in MergeSuggestion.objects.filter(workspace=workspace)}
    assert suggestions == {tuple(sorted((dot.member_id, dot_matrix.member_id))): 0.7}


@pytest.mark.parametrize("first", ["shorter", "longer"])
def test_incremental_generation_finds_numbered_variants(workspace: Workspace, first: str) -> None:
    from communa.members.services import process_ingested
    from communa.stream.models import Message

    handles = {"shorter": ("irc:libera.chat", "ana_lima82"), "longer": ("discourse:forum", "ana_lima8217")}
    second = "longer" if first == "shorter" else "shorter"
    old = say(workspace, handles[first][0], handles[first][1], handle=handles[first][1])
    process_ingested(workspace=workspace, message_ids=list(Message.objects.values_list("id", flat=True)))
    new = say(workspace, handles[second][0], handles[second][1], handle=handles[second][1])

    result = process_ingested(
        workspace=workspace, message_ids=list(Message.objects.filter(identity=new).values_list("id", flat=True))
    )

    assert result.suggested == 1
    suggestion = MergeSuggestion.objects.get(workspace=workspace)
    assert pair(suggestion) == tuple(sorted((old.member_id, new.member_id)))
    assert suggestion.reasons[0]["code"] == "handle_variant"
