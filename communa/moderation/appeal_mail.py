"""Appeals by email reply (or any message): a message quoting a decision's appeal code opens an appeal.

Every warning and the decision page give the member a short code ("M-42-7f3a0c", see actions.appeal_code). A reply
by email, a direct message or a post that contains it is read here, after enrichment, like any other message:
the code is checked against its signature, and only the member the decision was about can appeal with it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from communa.moderation.actions import appeal_code
from communa.moderation.models import Appeal, Decision
from communa.stream.models import Message

CODE = re.compile(r"\bM-(\d{1,12})-([0-9a-f]{6})\b", re.IGNORECASE)


def appeals_in(*, workspace_id: int, message_ids: Sequence[int]) -> list[Appeal]:
    from communa.moderation.services import ModerationError, submit_appeal

    opened = []
    # A cheap LIKE first: almost no message contains a code.
    query = Message.objects.filter(workspace_id=workspace_id, pk__in=list(message_ids), text__icontains="M-")
    for message in query.select_related("source"):
        for found in CODE.finditer(message.text):
            decision = Decision.objects.filter(workspace_id=workspace_id, pk=int(found.group(1))).first()
            if decision is None or appeal_code(decision).lower() != found.group(0).lower():
                continue
            if decision.member_id is None or decision.member_id != message.member_id:
                continue  # only the person the decision was about
            channel = Appeal.Channel.EMAIL if message.source.kind == "email" else Appeal.Channel.MESSAGE
            try:
                opened.append(submit_appeal(decision=decision, statement=message.text[:5000], channel=channel))
            except ModerationError:
                continue
    return opened
