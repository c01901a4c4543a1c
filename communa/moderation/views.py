"""Moderation pages: the review queue, rules (editor, versions, backtest, enable), decisions, appeals, reports,
the member panel, and the public appeal form.

Thin: access_workspace (404 outsiders, 403 roles), fetch with the workspace in the filter (a miss is 404),
call a selector or a service, render.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from communa.accounts.access import access_membership, access_workspace, can
from communa.accounts.models import Membership, User, Workspace
from communa.accounts.roles import Perm, role_has
from communa.moderation import selectors, services
from communa.moderation.actions import APPEAL_SALT, appeal_code, appeal_url
from communa.moderation.forms import (
    AppealDecisionForm,
    AppealForm,
    BacktestForm,
    RuleSetForm,
    StrikeForm,
    StrikeSettingsForm,
)
from communa.moderation.models import Appeal, ConflictAlert, Decision, ReviewItem, RuleMode, Strike
from communa.moderation.services import VERDICTS, ModerationError

VERDICT_LABELS = {
    "approve": gettext_lazy("Approve"),
    "remove": gettext_lazy("Remove"),
    "remove_warn": gettext_lazy("Remove + warn"),
    "mute": gettext_lazy("Mute 24 h"),
    "kick": gettext_lazy("Kick"),
    "ban": gettext_lazy("Ban"),
    "ban_everywhere": gettext_lazy("Ban everywhere"),
}
VERDICT_KEYS = {
    "approve": "a",
    "remove": "r",
    "remove_warn": "w",
    "mute": "m",
    "kick": "k",
    "ban": "b",
    "ban_everywhere": "e",
}
REPORT_DAYS = (7, 30, 90)
DECISIONS_PER_PAGE = 50
STARTER_RULES = """\
# One rule per block. Lines starting with # are comments.
# See docs/moderation-rules.md for the whole language.
"""


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required guarantees it
    return request.user


def _nav(request: HttpRequest, ws: Workspace) -> dict[str, Any]:
    user = _user(request)
    return {
        "workspace": ws,
        "counts": selectors.counts(workspace=ws),
        "can_rules": can(user, ws, Perm.MANAGE_RULES),
        "can_appeals": can(user, ws, Perm.REVIEW_APPEALS),
        "can_reports": can(user, ws, Perm.VIEW_ANALYTICS),
    }


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


# --- the review queue -------------------------------------------------------------------------------------------


@login_required
@require_GET
def queue(request: HttpRequest, workspace: str) -> HttpResponse:
    """Open items oldest first; the selected one with its thread, the member's history and one-key actions."""
    membership = access_membership(request.user, workspace, Perm.MODERATE)
    ws = membership.workspace
    user = _user(request)
    scope = request.GET.get("scope", "all")
    items = list(selectors.open_items(workspace=ws, mine_for=user if scope == "mine" else None)[:200])
    selected: ReviewItem | None = None
    wanted = request.GET.get("item", "")
    if wanted.isdigit():
        selected = next((i for i in items if i.pk == int(wanted)), None)
        if selected is None:
            selected = selectors.get_item(workspace=ws, item_id=int(wanted))
    elif items:
        selected = items[0]
    context: dict[str, Any] = {
        **_nav(request, ws),
        "items": items,
        "scope": scope,
        "selected": selected,
        "alerts": selectors.conflict_alerts(workspace=ws, limit=5),
        "resolved": selectors.recently_resolved(workspace=ws, limit=8) if not items else [],
    }
    if selected is not None:
        position = next((n for n, i in enumerate(items) if i.pk == selected.pk), -1)
        following = items[position + 1] if 0 <= position < len(items) - 1 else None
        context.update(
            {
                "thread": selectors.thread_context(workspace=ws, message=selected.message),
                "who": selectors.member_context(workspace=ws, member_id=selected.member_id),
                "verdicts": [
                    {"code": code, "label": VERDICT_LABELS[code], "key": VERDICT_KEYS[code]}
                    for code, (perm, _steps) in VERDICTS.items()
                    if role_has(membership.role, perm)
                ],
                "next_item": following,
                "claimed_by_other": selected.claimed_by_id not in (None, user.pk)
                and selected.claimed_at is not None
                and (timezone.now() - selected.claimed_at).total_seconds() < services.CLAIM_MINUTES * 60,
                "moderators": [
                    m.user
                    for m in Membership.objects.filter(workspace=ws).select_related("user").order_by("user__username")
                    if role_has(m.role, Perm.MODERATE)
                ],
            }
        )
    return render(request, "moderation/queue.html", context)


@login_required
@require_POST
def claim(request: HttpRequest, workspace: str, item_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    item = selectors.get_item(workspace=ws, item_id=item_id)
    try:
        services.claim_item(workspace=ws, item=item, actor=_user(request), force=request.POST.get("force") == "1")
    except ModerationError as exc:
        messages.error(request, str(exc))
    return redirect(reverse("moderation:queue", args=[ws.slug]) + f"?item={item.pk}")


@login_required
@require_POST
def release(request: HttpRequest, workspace: str, item_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    item = selectors.get_item(workspace=ws, item_id=item_id)
    services.release_item(workspace=ws, item=item, actor=_user(request))
    return redirect(reverse("moderation:queue", args=[ws.slug]) + f"?item={item.pk}")


@login_required
@require_POST
def assign(request: HttpRequest, workspace: str, item_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    item = selectors.get_item(workspace=ws, item_id=item_id)
    raw = request.POST.get("assignee", "")
    assignee = None
    if raw.isdigit():
        assignee = User.objects.filter(pk=int(raw), memberships__workspace=ws).first()
        if assignee is None:
            raise Http404
    try:
        services.assign_item(workspace=ws, item=item, assignee=assignee, actor=_user(request))
    except ModerationError as exc:
        messages.error(request, str(exc))
    return redirect(reverse("moderation:queue", args=[ws.slug]) + f"?item={item.pk}")


@login_required
@require_POST
def resolve(request: HttpRequest, workspace: str, item_id: int, verdict: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    item = selectors.get_item(workspace=ws, item_id=item_id)
    if verdict not in VERDICTS:
        raise Http404
    try:
        services.resolve_item(workspace=ws, item=item, verdict=verdict, actor=_user(request))
    except ModerationError as exc:
        messages.error(request, str(exc))
        return redirect(reverse("moderation:queue", args=[ws.slug]) + f"?item={item.pk}")
    messages.success(request, _("Done: %(verdict)s.") % {"verdict": VERDICT_LABELS[verdict]})
    following = request.POST.get("next_item", "")
    suffix = f"?item={following}" if following.isdigit() else ""
    return redirect(reverse("moderation:queue", args=[ws.slug]) + suffix)


@login_required
@require_POST
def dismiss_conflict(request: HttpRequest, workspace: str, alert_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    if not ConflictAlert.objects.filter(workspace=ws, pk=alert_id).update(
        dismissed_at=timezone.now(), dismissed_by=_user(request)
    ):
        raise Http404
    return _back(request, reverse("moderation:queue", args=[ws.slug]))


# --- rules ------------------------------------------------------------------------------------------------------


def _compile_error(text: str) -> dict[str, Any] | None:
    """None when `text` compiles; else the error with its line and column, for the editor."""
    from communa.moderation.rules import RuleError, compile_ruleset

    try:
        compiled = compile_ruleset(text)
    except RuleError as exc:
        return {"message": exc.translated(), "line": exc.line, "column": exc.column}
    return {"ok": True, "rules": [rule.name for rule in compiled.rules]}


@login_required
@require_http_methods(["GET", "POST"])
def rules(request: HttpRequest, workspace: str) -> HttpResponse:
    """The editor: the newest version's text; saving compiles first and never stores a text that does not."""
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    user = _user(request)
    latest = selectors.latest_rule_set(workspace=ws)
    error = None
    if request.method == "POST":
        if not can(user, ws, Perm.MANAGE_RULES):
            raise PermissionDenied
        form = RuleSetForm(request.POST)
        if form.is_valid():
            from communa.moderation.rules import RuleError

            try:
                rule_set = services.save_rule_set(
                    workspace=ws,
                    text=form.cleaned_data["text"],
                    modes=latest.modes if latest else {},
                    actor=user,
                    comment=form.cleaned_data["comment"],
                )
            except RuleError as exc:
                error = {"message": exc.translated(), "line": exc.line, "column": exc.column}
            else:
                messages.success(
                    request, _("Saved as version %(v)s. Backtest it, then enable it.") % {"v": rule_set.version}
                )
                return redirect("moderation:rule_set", ws.slug, rule_set.version)
    else:
        form = RuleSetForm(initial={"text": latest.text if latest else STARTER_RULES})
    return render(
        request,
        "moderation/rules.html",
        {
            **_nav(request, ws),
            "form": form,
            "error": error,
            "latest": latest,
            "active": selectors.active_rule_set(workspace=ws),
            "versions": list(selectors.rule_sets(workspace=ws)[:20]),
            "strike_form": StrikeSettingsForm(
                initial={"strike_days": selectors.moderation_settings(workspace=ws).strike_days}
            ),
            "can_manage": can(user, ws, Perm.MANAGE_RULES),
        },
    )


@login_required
@require_POST
def strike_settings(request: HttpRequest, workspace: str) -> HttpResponse:
    """How many days the strikes given from now on count."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_RULES)
    form = StrikeSettingsForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose between 1 and 3650 days."))
        return redirect("moderation:rules", ws.slug)
    days = form.cleaned_data["strike_days"]
    services.set_strike_days(workspace=ws, days=days, actor=_user(request))
    messages.success(request, _("New strikes expire after %(n)s days.") % {"n": days})
    return redirect("moderation:rules", ws.slug)


@login_required
@require_POST
def validate(request: HttpRequest, workspace: str) -> HttpResponse:
    """HTMX: compile the editor's text as typed and say what is wrong, with line and column."""
    access_workspace(request.user, workspace, Perm.MODERATE)
    text = request.POST.get("text", "")[: RuleSetForm.base_fields["text"].max_length or 200_000]  # type: ignore[attr-defined]
    return render(request, "moderation/partials/validation.html", {"result": _compile_error(text)})


@login_required
@require_GET
def rule_set(request: HttpRequest, workspace: str, version: int) -> HttpResponse:
    """One version: its text, the mode of each rule, its backtests, and the enable button."""
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    found = selectors.get_rule_set(workspace=ws, version=version)
    backtest = selectors.latest_backtest(workspace=ws, rule_set=found)
    config = selectors.moderation_settings(workspace=ws)
    return render(
        request,
        "moderation/rule_set.html",
        {
            **_nav(request, ws),
            "rule_set": found,
            "modes": services.effective_modes(found),
            "mode_choices": RuleMode.choices,
            "backtest": backtest,
            "backtest_form": BacktestForm(),
            "config": config,
            "is_active": config.active_rule_set_id == found.pk,
            "too_many": backtest is not None and backtest.too_broad,
        },
    )


@login_required
@require_POST
def save_modes(request: HttpRequest, workspace: str, version: int) -> HttpResponse:
    """New modes for the rules of a version: saved as a new version (every save is one)."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_RULES)
    found = selectors.get_rule_set(workspace=ws, version=version)
    modes = {
        rule_id: request.POST.get(f"mode-{rule_id}", mode) for rule_id, _name, mode in services.effective_modes(found)
    }
    new = services.save_rule_set(
        workspace=ws, text=found.text, modes=modes, actor=_user(request), comment=_("Modes changed")
    )
    messages.success(request, _("Saved as version %(v)s.") % {"v": new.version})
    return redirect("moderation:rule_set", ws.slug, new.version)


@login_required
@require_POST
def backtest(request: HttpRequest, workspace: str, version: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_RULES)
    found = selectors.get_rule_set(workspace=ws, version=version)
    form = BacktestForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose between 1 and 365 days."))
        return redirect("moderation:rule_set", ws.slug, version)
    result = services.run_backtest(workspace=ws, rule_set=found, days=form.cleaned_data["days"], actor=_user(request))
    return redirect("moderation:backtest", ws.slug, result.pk)


@login_required
@require_GET
def backtest_detail(request: HttpRequest, workspace: str, backtest_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    found = selectors.get_backtest(workspace=ws, backtest_id=backtest_id)
    config = selectors.moderation_settings(workspace=ws)
    rows = sorted(found.by_rule.items(), key=lambda kv: -int(kv[1].get("matches", 0)))
    marks = selectors.backtest_marks(workspace=ws, backtest=found)
    overall, per_rule = selectors.backtest_precision(found.examples, marks)
    examples = [
        {
            **ex,
            "when": datetime.fromisoformat(ex["at"]),
            "mark": marks.get((str(ex.get("rule_id", "")), int(ex.get("message_id", 0))), ""),
        }
        for ex in found.examples
    ]
    for _name, row in rows:
        row["too_broad"] = bool(found.messages) and row.get("matches", 0) / found.messages > found.warning_share
        row["precision"] = per_rule.get(str(row.get("rule_id", "")))
    return render(
        request,
        "moderation/backtest.html",
        {
            **_nav(request, ws),
            "backtest": found,
            "rule_set": found.rule_set,
            "rows": rows,
            "examples": examples,
            "too_many": found.too_broad,
            "is_active": config.active_rule_set_id == found.rule_set_id,
            "precision": overall,
        },
    )


@login_required
@require_POST
def mark_example(request: HttpRequest, workspace: str, backtest_id: int, message_id: int) -> HttpResponse:
    """A moderator marks an example "correct" or "would be wrong" (or clears the mark)."""
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    found = selectors.get_backtest(workspace=ws, backtest_id=backtest_id)
    try:
        services.mark_example(
            workspace=ws,
            backtest=found,
            message_id=message_id,
            rule_id=request.POST.get("rule_id", ""),
            verdict=request.POST.get("verdict", ""),
            actor=_user(request),
        )
    except ModerationError as exc:
        messages.error(request, str(exc))
    return redirect(f"{reverse('moderation:backtest', args=[ws.slug, found.pk])}#example-{message_id}")


@login_required
@require_POST
def enable(request: HttpRequest, workspace: str, version: int) -> HttpResponse:
    """Make a version live. When its last backtest acted on too much, the person must confirm."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_RULES)
    found = selectors.get_rule_set(workspace=ws, version=version)
    last = selectors.latest_backtest(workspace=ws, rule_set=found)
    if last is not None and last.too_broad and request.POST.get("confirm") != "1":
        messages.error(
            request,
            _("This version would have acted on %(p).1f%% of messages (more than %(x).0f%%): confirm to enable it.")
            % {"p": last.percent, "x": last.warn_percent},
        )
        return redirect("moderation:rule_set", ws.slug, version)
    services.activate_rule_set(workspace=ws, rule_set=found, actor=_user(request))
    messages.success(request, _("Version %(v)s is live: new messages are checked against it.") % {"v": version})
    return redirect("moderation:rule_set", ws.slug, version)


@login_required
@require_POST
def disable(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_RULES)
    services.activate_rule_set(workspace=ws, rule_set=None, actor=_user(request))
    messages.success(request, _("Automatic moderation is off. The review queue keeps working."))
    return redirect("moderation:rules", ws.slug)


# --- decisions ----------------------------------------------------------------------------------------------------


@login_required
@require_GET
def decisions(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    query = selectors.decisions(workspace=ws)
    kind = request.GET.get("kind", "")
    if kind in Decision.Kind.values:
        query = query.filter(kind=kind)
    query = query.filter(live=request.GET.get("log") != "1")
    page = Paginator(query, DECISIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "moderation/decisions.html",
        {**_nav(request, ws), "page": page, "kind": kind, "log": request.GET.get("log") == "1"},
    )


@login_required
@require_GET
def decision(request: HttpRequest, workspace: str, decision_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    found = selectors.get_decision(workspace=ws, decision_id=decision_id)
    return render(
        request,
        "moderation/decision.html",
        {
            **_nav(request, ws),
            "decision": found,
            "actions": selectors.actions_of(found),
            "appeals": list(found.appeals.select_related("decided_by").order_by("-created_at")),
            "strikes": list(found.strikes.all()),
            "appeal_url": appeal_url(found),
            "appeal_code": appeal_code(found),
            "can_reverse": can(_user(request), ws, Perm.REVIEW_APPEALS),
        },
    )


@login_required
@require_POST
def reverse_decision(request: HttpRequest, workspace: str, decision_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.REVIEW_APPEALS)
    found = selectors.get_decision(workspace=ws, decision_id=decision_id)
    if services.reverse_decision(workspace=ws, decision=found, actor=_user(request), why="reversed by a manager"):
        messages.success(request, _("Reversed: what can be undone on the platform is being undone."))
    else:
        messages.error(request, _("This decision was already reversed."))
    return redirect("moderation:decision", ws.slug, found.pk)


# --- appeals --------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def appeals(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.REVIEW_APPEALS)
    state = request.GET.get("state", "open")
    query = selectors.appeals(workspace=ws, state=state if state in Appeal.State.values else None)
    page = Paginator(query, DECISIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "moderation/appeals.html",
        {**_nav(request, ws), "page": page, "state": state, "states": Appeal.State.choices},
    )


@login_required
@require_http_methods(["GET", "POST"])
def appeal(request: HttpRequest, workspace: str, appeal_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.REVIEW_APPEALS)
    found = selectors.get_appeal(workspace=ws, appeal_id=appeal_id)
    user = _user(request)
    form = AppealDecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        overturn = request.POST.get("outcome") == "overturn"
        try:
            services.decide_appeal(
                workspace=ws, appeal=found, overturn=overturn, response=form.cleaned_data["response"], actor=user
            )
        except ModerationError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                _("Overturned: the action is undone where the platform allows it, and the strike removed.")
                if overturn
                else _("Upheld."),
            )
        return redirect("moderation:appeal", ws.slug, found.pk)
    return render(
        request,
        "moderation/appeal.html",
        {
            **_nav(request, ws),
            "appeal": found,
            "decision": found.decision,
            "actions": selectors.actions_of(found.decision),
            "form": form,
            "is_original": user.pk in services.original_moderators(found.decision),
        },
    )


# --- reports ---------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def reports(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.VIEW_ANALYTICS)
    raw = request.GET.get("days", "30")
    days = int(raw) if raw.isdigit() and int(raw) in REPORT_DAYS else 30
    found = selectors.report(workspace=ws, days=days)
    peak = max([a + b for _d, a, b in found.by_day] or [0])
    return render(
        request,
        "moderation/reports.html",
        {**_nav(request, ws), "report": found, "days": days, "day_choices": REPORT_DAYS, "peak": peak or 1},
    )


# --- the member panel (loaded by the member profile with HTMX) -------------------------------------------------------


@login_required
@require_GET
def member_panel(request: HttpRequest, workspace: str, member_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    who = selectors.member_context(workspace=ws, member_id=member_id)
    if who.member is None:
        raise Http404
    return render(
        request,
        "moderation/partials/member_panel.html",
        {"workspace": ws, "who": who, "strike_form": StrikeForm(), "now": timezone.now()},
    )


@login_required
@require_POST
def add_strike(request: HttpRequest, workspace: str, member_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MODERATE)
    who = selectors.member_context(workspace=ws, member_id=member_id)
    if who.member is None:
        raise Http404
    form = StrikeForm(request.POST)
    if form.is_valid():
        services.add_strike(
            workspace=ws,
            member_id=member_id,
            reason=form.cleaned_data["reason"],
            actor=_user(request),
            days=form.cleaned_data["days"],
        )
        messages.success(request, _("Strike added."))
    else:
        messages.error(request, _("Give a reason and a number of days."))
    return _back(request, reverse("moderation:member_panel", args=[ws.slug, member_id]))


@login_required
@require_POST
def remove_strike(request: HttpRequest, workspace: str, strike_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MODERATE_HARSH)
    strike = Strike.objects.filter(workspace=ws, pk=strike_id).first()
    if strike is None:
        raise Http404
    services.remove_strike(workspace=ws, strike=strike, actor=_user(request), why=request.POST.get("why", "")[:200])
    messages.success(request, _("Strike removed."))
    return _back(request, reverse("moderation:member_panel", args=[ws.slug, strike.member_id]))


# --- the public appeal form (no account needed: the link is signed) ------------------------------------------------


def _decision_from_token(token: str) -> Decision:
    try:
        data = signing.Signer(salt=APPEAL_SALT).unsign_object(token)
    except signing.BadSignature as exc:
        raise Http404 from exc
    found = (
        Decision.objects.select_related("workspace", "message__source")
        .filter(pk=data.get("d"), workspace_id=data.get("w"))
        .first()
    )
    if found is None:
        raise Http404
    return found


@require_http_methods(["GET", "POST"])
def public_appeal(request: HttpRequest, token: str) -> HttpResponse:
    found = _decision_from_token(token)
    form = AppealForm(request.POST or None)
    submitted = found.appeals.order_by("-created_at").first()
    if request.method == "POST" and form.is_valid():
        try:
            submitted = services.submit_appeal(
                decision=found, statement=form.cleaned_data["statement"], contact=form.cleaned_data["contact"]
            )
        except ModerationError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("moderation_public:appeal", token)
    return render(
        request,
        "moderation/public_appeal.html",
        {"decision": found, "form": form, "appeal": submitted, "workspace_name": found.workspace.name},
    )
