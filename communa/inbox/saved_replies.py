"""Saved replies: canned answers with variables, in the member's language, found by shortcut.

Variables are replaced by a small scanner, never a template engine or str.format (the text is written by
people and must not reach attributes or code): `{member_name}`, `{first_name}`, `{agent_name}`,
`{workspace}`, `{link:NAME}` (a SavedLink of the workspace). `{{` and `}}` are literal braces. An unknown
variable, or a link that does not exist, stays as written so the person sees it in the composer before
sending. The variant is picked by the conversation's language (the member's: Message.language, else the
detected language), then by its primary subtag ("pt-BR" → "pt"), else the saved reply's own text.
"""

from __future__ import annotations

import dataclasses

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext

from communa.accounts.models import User, Workspace
from communa.accounts.roles import Perm, role_has
from communa.audit.services import record
from communa.inbox.models import Conversation, SavedLink, SavedReply, SavedReplyVariant
from communa.inbox.services import InboxError, user_in_workspace

VARIABLES = ("member_name", "first_name", "agent_name", "workspace")
MAX_BODY = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    language: str  # the variant used
    unknown: tuple[str, ...]  # variables left as written


def pick_variant(saved_reply: SavedReply, language: str) -> tuple[str, str]:
    """(body, language) of the variant for `language` (prefetch `variants` to avoid a query)."""
    wanted = (language or "").strip().lower()
    variants = {v.language.lower(): v.body for v in saved_reply.variants.all()}
    variants.setdefault(saved_reply.language.lower(), saved_reply.body)
    for candidate in (wanted, wanted.split("-")[0].split("_")[0]):
        if candidate and candidate in variants:
            return variants[candidate], candidate
    return saved_reply.body, saved_reply.language.lower()


def substitute(body: str, values: dict[str, str], links: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """Replace {name} and {link:name}; returns the text and the variables left as written."""
    out: list[str] = []
    unknown: list[str] = []
    i, n = 0, len(body)
    while i < n:
        char = body[i]
        if char == "{" and body.startswith("{{", i):
            out.append("{")
            i += 2
            continue
        if char == "}" and body.startswith("}}", i):
            out.append("}")
            i += 2
            continue
        if char == "{":
            end = body.find("}", i + 1)
            name = body[i + 1 : end].strip() if end != -1 else ""
            if end != -1 and name and "{" not in name and len(name) <= 80:
                if name.startswith("link:") and name[5:].strip() in links:
                    out.append(links[name[5:].strip()])
                elif name in values:
                    out.append(values[name])
                else:
                    out.append(body[i : end + 1])
                    unknown.append(name)
                i = end + 1
                continue
        out.append(char)
        i += 1
    return "".join(out), tuple(unknown)


def values_for(*, conversation: Conversation | None, user: User | None, workspace: Workspace) -> dict[str, str]:
    member_name = ""
    if conversation is not None and conversation.member is not None:
        member_name = conversation.member.display_name
    first = member_name.split()[0] if member_name.split() else ""
    agent = (user.first_name or user.get_username()) if user is not None else ""
    return {"member_name": member_name, "first_name": first, "agent_name": agent, "workspace": workspace.name}


def render(
    *, saved_reply: SavedReply, conversation: Conversation | None, user: User | None, language: str | None = None
) -> Rendered:
    """The saved reply ready for the composer, in the conversation's language (or `language`)."""
    workspace = saved_reply.workspace
    body, used = pick_variant(
        saved_reply, language if language is not None else (conversation.language if conversation else "")
    )
    links = dict(SavedLink.objects.filter(workspace_id=saved_reply.workspace_id).values_list("name", "url"))
    text, unknown = substitute(body, values_for(conversation=conversation, user=user, workspace=workspace), links)
    return Rendered(text=text, language=used, unknown=unknown)


def by_shortcut(*, workspace: Workspace, shortcut: str) -> SavedReply | None:
    """The saved reply for "/refund" or "refund" (exact, case-insensitive)."""
    key = shortcut.strip().lstrip("/").lower()
    if not key:
        return None
    return SavedReply.objects.filter(workspace=workspace, shortcut=key).prefetch_related("variants").first()


def search(*, workspace: Workspace, query: str, limit: int = 10) -> list[SavedReply]:
    """Saved replies whose shortcut starts with, or title contains, `query` (the composer's "/" menu)."""
    key = query.strip().lstrip("/")
    qs = SavedReply.objects.filter(workspace=workspace)
    if key:
        qs = qs.filter(Q(shortcut__istartswith=key) | Q(title__icontains=key))
    return list(qs.prefetch_related("variants").order_by("-use_count", "shortcut")[:limit])


# --- writes -------------------------------------------------------------------------------------------


def _editor(workspace: Workspace, actor: User) -> None:
    membership = user_in_workspace(workspace=workspace, user=actor)
    if membership is None or not role_has(membership.role, Perm.REPLY):
        raise PermissionError("not allowed")


def _clean(shortcut: str, title: str, body: str, variants: dict[str, str]) -> tuple[str, str, str, dict[str, str]]:
    from django.utils.text import slugify

    key = slugify(shortcut.strip().lstrip("/"))[:60]
    if not key:
        raise InboxError(gettext("A saved reply needs a shortcut (letters, digits, dashes)."))
    if not title.strip():
        raise InboxError(gettext("A saved reply needs a title."))
    texts = {"": body, **variants}
    if not body.strip():
        raise InboxError(gettext("A saved reply needs text."))
    if any(len(t) > MAX_BODY for t in texts.values()):
        raise InboxError(gettext("A saved reply is at most %(n)d characters.") % {"n": MAX_BODY})
    clean_variants = {
        lang.strip().lower(): text.strip() for lang, text in variants.items() if lang.strip() and text.strip()
    }
    return key, title.strip(), body.strip(), clean_variants


def save_saved_reply(
    *,
    workspace: Workspace,
    actor: User,
    title: str,
    shortcut: str,
    body: str,
    language: str = "en",
    variants: dict[str, str] | None = None,
    saved_reply: SavedReply | None = None,
) -> SavedReply:
    """Create (saved_reply=None) or replace a saved reply and its language variants."""
    _editor(workspace, actor)
    if saved_reply is not None and saved_reply.workspace_id != workspace.pk:
        raise InboxError(gettext("That saved reply is not in this workspace."))
    key, title, body, clean = _clean(shortcut, title, body, variants or {})
    language = (language or "en").strip().lower()
    clean.pop(language, None)
    try:
        with transaction.atomic():
            if saved_reply is None:
                saved_reply = SavedReply.objects.create(
                    workspace=workspace, title=title, shortcut=key, body=body, language=language, created_by=actor
                )
            else:
                saved_reply.title, saved_reply.shortcut, saved_reply.body, saved_reply.language = (
                    title,
                    key,
                    body,
                    language,
                )
                saved_reply.save()
            saved_reply.variants.exclude(language__in=list(clean)).delete()
            for lang, text in clean.items():
                SavedReplyVariant.objects.update_or_create(
                    saved_reply=saved_reply, language=lang, defaults={"body": text}
                )
            record(workspace=workspace, actor=actor, action="inbox.saved_reply_saved", target=saved_reply)
    except IntegrityError as exc:
        raise InboxError(gettext("The shortcut /%(key)s is already used.") % {"key": key}) from exc
    return saved_reply


def delete_saved_reply(*, saved_reply: SavedReply, actor: User) -> None:
    _editor(saved_reply.workspace, actor)
    with transaction.atomic():
        record(workspace=saved_reply.workspace, actor=actor, action="inbox.saved_reply_deleted", target=saved_reply)
        saved_reply.delete()


def save_link(*, workspace: Workspace, actor: User, name: str, url: str) -> SavedLink:
    from django.utils.text import slugify

    _editor(workspace, actor)
    key = slugify(name)[:60]
    if not key or not url.startswith(("https://", "http://")):
        raise InboxError(gettext("A link needs a name and an http(s) address."))
    link, _ = SavedLink.objects.update_or_create(workspace=workspace, name=key, defaults={"url": url})
    return link
