"""REST API for moderation: rules (get, validate, save, enable), the review queue, decisions, appeals.

Workspace resolution and errors are the API's usual ones (accounts.api.api_workspace): 404 for outsiders and
for ids of another workspace, 403 for a role without the permission. A rule text that does not compile is a
422 with its line and column, and is never saved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404
from ninja import Field, Query, Router, Schema, Status

from communa.accounts.api import ERRORS, ErrorOut, WorkspaceParam, api_user, api_workspace
from communa.accounts.roles import Perm
from communa.moderation import selectors, services
from communa.moderation.models import Appeal, Decision, DecisionAction, ReviewItem, RuleSet
from communa.moderation.services import VERDICTS, ModerationError

router = Router(tags=["moderation"])

MAX_PAGE_SIZE = 200
CONFLICT: dict[int, type[Schema]] = {409: ErrorOut}


class RuleErrorOut(Schema):
    message: str
    line: int
    column: int


class RulesIn(Schema):
    text: str = Field(max_length=256 * 1024, description="The rule set, in the rule language (YAML).")
    comment: str = Field(default="", max_length=300)
    modes: dict[str, str] = Field(default_factory=dict, description="rule id → enabled | log_only | disabled.")


class ValidateIn(Schema):
    text: str = Field(max_length=256 * 1024)


class ValidationOut(Schema):
    ok: bool
    rules: list[str] = Field(default_factory=list, description="The rule ids, in evaluation order.")
    error: RuleErrorOut | None = None


class RuleSetOut(Schema):
    version: int
    text: str
    modes: dict[str, str]
    rules: list[str]
    comment: str
    created_by: str | None
    created_at: datetime
    live: bool


class PageQuery(Schema):
    page: int = Field(default=1, ge=1)
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)


class ActionOut(Schema):
    action: str
    state: str
    source_id: int | None
    error: str
    expires_at: datetime | None


class DecisionOut(Schema):
    id: int
    kind: str
    live: bool
    verdict: str
    rule: str
    moderator: str | None
    message_id: int | None
    member_id: int | None
    source_id: int | None
    explanation: dict[str, Any]
    created_at: datetime
    seconds_to_action: float | None
    reversed_at: datetime | None
    actions: list[ActionOut]


class ItemOut(Schema):
    id: int
    message_id: int
    member_id: int | None
    text: str
    reason: str
    explanation: dict[str, Any]
    state: str
    claimed_by: str | None
    assigned_to: str | None
    resolution: str
    created_at: datetime


class ResolveIn(Schema):
    verdict: str = Field(json_schema_extra={"enum": list(VERDICTS)})


class AppealOut(Schema):
    id: int
    decision_id: int
    member_id: int | None
    channel: str
    statement: str
    state: str
    decided_by: str | None
    decided_at: datetime | None
    response: str
    created_at: datetime


class AppealDecisionIn(Schema):
    overturn: bool
    response: str = Field(default="", max_length=5000)


def _rule_set(rule_set: RuleSet, live_id: int | None) -> RuleSetOut:
    return RuleSetOut(
        version=rule_set.version,
        text=rule_set.text,
        modes=rule_set.modes,
        rules=list(rule_set.rule_names),
        comment=rule_set.comment,
        created_by=rule_set.created_by.get_username() if rule_set.created_by else None,
        created_at=rule_set.created_at,
        live=rule_set.pk == live_id,
    )


def _decision(decision: Decision) -> DecisionOut:
    actions: list[DecisionAction] = list(decision.actions.order_by("id"))
    return DecisionOut(
        id=decision.pk,
        kind=decision.kind,
        live=decision.live,
        verdict=decision.verdict,
        rule=decision.rule,
        moderator=decision.moderator.get_username() if decision.moderator else None,
        message_id=decision.message_id,
        member_id=decision.member_id,
        source_id=decision.source_id,
        explanation=decision.explanation,
        created_at=decision.created_at,
        seconds_to_action=decision.seconds_to_action,
        reversed_at=decision.reversed_at,
        actions=[
            ActionOut(action=a.action, state=a.state, source_id=a.source_id, error=a.error, expires_at=a.expires_at)
            for a in actions
        ],
    )


def _item(item: ReviewItem) -> ItemOut:
    return ItemOut(
        id=item.pk,
        message_id=item.message_id,
        member_id=item.member_id,
        text=item.message.text or str(item.explanation.get("message_text", "")),
        reason=item.reason,
        explanation=item.explanation,
        state=item.state,
        claimed_by=item.claimed_by.get_username() if item.claimed_by else None,
        assigned_to=item.assigned_to.get_username() if item.assigned_to else None,
        resolution=item.resolution,
        created_at=item.created_at,
    )


def _appeal(appeal: Appeal) -> AppealOut:
    return AppealOut(
        id=appeal.pk,
        decision_id=appeal.decision_id,
        member_id=appeal.member_id,
        channel=appeal.channel,
        statement=appeal.statement,
        state=appeal.state,
        decided_by=appeal.decided_by.get_username() if appeal.decided_by else None,
        decided_at=appeal.decided_at,
        response=appeal.response,
        created_at=appeal.created_at,
    )


# --- rules ----------------------------------------------------------------------------------------------------


@router.get("/rules", response={200: RuleSetOut, **ERRORS}, summary="Get the newest rule set version")
def get_rules(request: Any, workspace: WorkspaceParam = None) -> Status[RuleSetOut | ErrorOut]:
    """The newest saved version (`live` says whether it is the enabled one). 404 when none was saved."""
    ws = api_workspace(request, workspace, Perm.MODERATE)
    latest = selectors.latest_rule_set(workspace=ws)
    if latest is None:
        raise Http404
    live = selectors.active_rule_set(workspace=ws)
    return Status(200, _rule_set(latest, live.pk if live else None))


@router.post("/rules/validate", response={200: ValidationOut, **ERRORS}, summary="Check a rule set without saving")
def validate_rules(request: Any, body: ValidateIn, workspace: WorkspaceParam = None) -> ValidationOut:
    from communa.moderation.rules import RuleError, compile_ruleset

    api_workspace(request, workspace, Perm.MODERATE)
    try:
        compiled = compile_ruleset(body.text)
    except RuleError as exc:
        return ValidationOut(ok=False, error=RuleErrorOut(message=exc.translated(), line=exc.line, column=exc.column))
    return ValidationOut(ok=True, rules=[r.rule_id for r in compiled.rules])


@router.post(
    "/rules", response={201: RuleSetOut, 400: RuleErrorOut, **ERRORS}, summary="Save a rule set as a new version"
)
def save_rules(request: Any, body: RulesIn, workspace: WorkspaceParam = None) -> Status[RuleSetOut | RuleErrorOut]:
    """Compiles first: a text with an error is answered 400 with line and column and is not saved."""
    from communa.moderation.rules import RuleError

    ws = api_workspace(request, workspace, Perm.MANAGE_RULES)
    try:
        saved = services.save_rule_set(
            workspace=ws, text=body.text, modes=body.modes, actor=api_user(request), comment=body.comment
        )
    except RuleError as exc:
        return Status(400, RuleErrorOut(message=exc.translated(), line=exc.line, column=exc.column))
    live = selectors.active_rule_set(workspace=ws)
    return Status(201, _rule_set(saved, live.pk if live else None))


@router.post("/rules/{version}/enable", response={200: RuleSetOut, **ERRORS}, summary="Make a version live")
def enable_rules(request: Any, version: int, workspace: WorkspaceParam = None) -> RuleSetOut:
    ws = api_workspace(request, workspace, Perm.MANAGE_RULES)
    found = selectors.get_rule_set(workspace=ws, version=version)
    services.activate_rule_set(workspace=ws, rule_set=found, actor=api_user(request))
    return _rule_set(found, found.pk)


# --- queue -----------------------------------------------------------------------------------------------------


@router.get("/queue", response={200: list[ItemOut], **ERRORS}, summary="List open review items")
def list_queue(request: Any, page: Query[PageQuery], workspace: WorkspaceParam = None) -> list[ItemOut]:
    ws = api_workspace(request, workspace, Perm.MODERATE)
    start = (page.page - 1) * page.limit
    return [_item(i) for i in selectors.open_items(workspace=ws)[start : start + page.limit]]


@router.post(
    "/queue/{item_id}/resolve",
    response={200: DecisionOut, **ERRORS, **CONFLICT},
    summary="Decide a review item (approve, remove, remove_warn, mute, kick, ban, ban_everywhere)",
)
def resolve_item(
    request: Any, item_id: int, body: ResolveIn, workspace: WorkspaceParam = None
) -> Status[DecisionOut | ErrorOut]:
    """Volunteers may approve, remove and warn; mute, kick and bans need a moderator (403 otherwise).
    409 when someone else decided or claimed it first."""
    from django.core.exceptions import PermissionDenied

    from communa.accounts.access import can

    ws = api_workspace(request, workspace, Perm.MODERATE)
    user = api_user(request)
    if body.verdict not in VERDICTS:
        from communa.accounts.api import invalid

        raise invalid(["body", "verdict"], "unknown verdict")
    if not can(user, ws, VERDICTS[body.verdict][0]):
        raise PermissionDenied
    item = selectors.get_item(workspace=ws, item_id=item_id)
    try:
        decision = services.resolve_item(workspace=ws, item=item, verdict=body.verdict, actor=user)
    except ModerationError as exc:
        return Status(409, ErrorOut(detail=str(exc)))
    return Status(200, _decision(decision))


# --- decisions ----------------------------------------------------------------------------------------------------


@router.get("/decisions", response={200: list[DecisionOut], **ERRORS}, summary="List decisions, newest first")
def list_decisions(request: Any, page: Query[PageQuery], workspace: WorkspaceParam = None) -> list[DecisionOut]:
    ws = api_workspace(request, workspace, Perm.MODERATE)
    start = (page.page - 1) * page.limit
    rows = selectors.decisions(workspace=ws).prefetch_related("actions")[start : start + page.limit]
    return [_decision(d) for d in rows]


@router.get("/decisions/{decision_id}", response={200: DecisionOut, **ERRORS}, summary="Get a decision")
def get_decision(request: Any, decision_id: int, workspace: WorkspaceParam = None) -> DecisionOut:
    ws = api_workspace(request, workspace, Perm.MODERATE)
    return _decision(selectors.get_decision(workspace=ws, decision_id=decision_id))


# --- appeals ------------------------------------------------------------------------------------------------------


@router.get("/appeals", response={200: list[AppealOut], **ERRORS}, summary="List appeals")
def list_appeals(
    request: Any, page: Query[PageQuery], state: str = "", workspace: WorkspaceParam = None
) -> list[AppealOut]:
    ws = api_workspace(request, workspace, Perm.REVIEW_APPEALS)
    start = (page.page - 1) * page.limit
    rows = selectors.appeals(workspace=ws, state=state if state in Appeal.State.values else None)
    return [_appeal(a) for a in rows[start : start + page.limit]]


@router.post(
    "/appeals/{appeal_id}/decide", response={200: AppealOut, **ERRORS, **CONFLICT}, summary="Uphold or overturn"
)
def decide_appeal(
    request: Any, appeal_id: int, body: AppealDecisionIn, workspace: WorkspaceParam = None
) -> Status[AppealOut | ErrorOut]:
    """Overturning undoes the action on the platform where possible and removes the strike. 409 when the
    caller made the original decision, or the appeal was decided already."""
    ws = api_workspace(request, workspace, Perm.REVIEW_APPEALS)
    found = selectors.get_appeal(workspace=ws, appeal_id=appeal_id)
    try:
        decided = services.decide_appeal(
            workspace=ws, appeal=found, overturn=body.overturn, response=body.response, actor=api_user(request)
        )
    except ModerationError as exc:
        return Status(409, ErrorOut(detail=str(exc)))
    return Status(200, _appeal(decided))
