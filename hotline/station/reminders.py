"""The 3-day promise's timers: ``email.remind`` one working day before the reply-by date (the counselor
holding the case, else whoever is on duty) and ``email.escalate`` when it has passed (supervisors)."""

from __future__ import annotations

from hotline.desk import Desk, Outgoing
from hotline.domain import CaseStatus
from hotline.storage import repo
from hotline.storage.models import Case


async def remind(desk: Desk, case_id: int, *, overdue: bool) -> None:
    async with desk.store.unit() as s:
        case = await s.get(Case, case_id)
        if case is None or case.status == CaseStatus.CLOSED.value or case.reply_due_at is None:
            return
        people = await repo.supervisors(s) if overdue else await repo.on_duty(s)
        if not overdue and case.counselor_id is not None:
            holder = await repo.counselor(s, case.counselor_id)
            people = [holder] if holder is not None else people
        if not people:
            people = await repo.supervisors(s)
        key = "counselor.mail.overdue" if overdue else "counselor.mail.reminder"
        text = desk.render(key, code=case.code, due=desk.texts.format_datetime(case.reply_due_at))
    await desk.deliver([Outgoing(p.telegram_id, text) for p in people])
