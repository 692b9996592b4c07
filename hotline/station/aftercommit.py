"""What a stored batch of received mail leaves to do once its transaction is committed: wake the timers
and the outbox, send the crisis alerts, relay follow-ups to counselors, offer new cases, and tell the
counselors on duty (or the supervisors) about mail set aside for a human."""

from __future__ import annotations

from hotline.desk import Desk, Outgoing
from hotline.station.batch import After
from hotline.station.outbox import Outbox
from hotline.storage import repo
from hotline.storage.models import Case


async def after_commit(desk: Desk, outbox: Outbox, after: After) -> None:
    """Everything in ``after``, in that order (see the module doc)."""
    outbox.hand(after.handed)  # stored claimed: straight to the sender beside the poll
    if after.stored:
        desk.wake_timers()
        outbox.wake()
    for alert in after.prepared:  # recorded in the batch's transaction
        await desk.alerts.send_alert(alert)
    await desk.deliver(
        [
            Outgoing(who, desk.render("counselor.mail.followup", code=code, text=text))
            for who, code, text in after.relays
        ]
    )
    await desk.offer_many([case.id for case in after.offers])
    if after.flagged or after.unreadable:
        async with desk.store.unit() as s:
            people = await repo.on_duty(s) or await repo.supervisors(s)
        notes = [flag_note(desk, case, reason) for case, reason in after.flagged if reason != CAPPED]
        if capped := [case for case, reason in after.flagged if reason == CAPPED]:
            # One note for all of them: a flood of forged mail must not become a flood of notes.
            codes = sorted({case.code for case in capped if case is not None})
            shown = "、".join(codes[:CODES_SHOWN]) + ("…" if len(codes) > CODES_SHOWN else "")
            notes.append(desk.render("counselor.mail.auto_mail_cap", count=len(capped), codes=shown or "—"))
        if after.unreadable:
            notes.append(desk.render("counselor.mail.unreadable", count=after.unreadable))
        await desk.deliver([Outgoing(p.telegram_id, note) for note in notes for p in people])


CAPPED = "auto_mail_cap"  # the sender's address had its automatic mails for the day (flows.mailcase)
CODES_SHOWN = 10


def flag_note(desk: Desk, case: Case | None, reason: str) -> str:
    """The note to counselors about a mail set aside for a human, by the reason (`FlagForHuman`)."""
    key = f"counselor.mail.flagged_{reason}" if case is not None else f"counselor.mail.kept_{reason}"
    if not desk.texts.has(key):
        key = "counselor.mail.flagged" if case is not None else "counselor.mail.unreadable"
    return desk.render(key, code=case.code if case is not None else "", count=1)
