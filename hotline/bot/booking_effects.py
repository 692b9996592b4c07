"""What each effect of flows/booking does (rows, timers, the audit trail, messages), inside the booking's
transaction. Messages are collected on the run and sent after the commit. Every effect of the booking flow
is matched below, ending in ``assert_never``: one that nobody executes fails ``mypy --strict``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, assert_never

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.desk import Outgoing
from hotline.flows import booking_vocab as vocab
from hotline.flows.booking_vocab import BookingEffect, BookingState
from hotline.flows.survey import InviteSurvey
from hotline.flows.vocabulary import Button
from hotline.ports import Recipient
from hotline.storage import booking_repo, repo
from hotline.storage.booking_repo import as_slot
from hotline.storage.models import BookingRow, Case, Employee, SlotRow
from hotline.timer_kinds import TimerKind

if TYPE_CHECKING:
    from hotline.bot.booking import Bookings

log = logging.getLogger(__name__)

ATTENDED, NO_SHOW, COUNSELOR_CANCEL = "bk:att", "bk:ns", "bk:ccancel"
SESSION_BUTTONS = (
    Button("booking.button.attended", ATTENDED),
    Button("booking.button.no_show", NO_SHOW),
    Button("booking.button.counselor_cancel", COUNSELOR_CANCEL),
)
# Counselor messages that come with the session's buttons (attended / no-show / cancel).
WITH_SESSION_BUTTONS = frozenset({"booking.counselor.confirmed", "booking.counselor.reminder"})


@dataclass
class Run:
    """One booking being stepped: its rows, the employee's chat, and what to send after the commit."""

    row: BookingRow
    slot: SlotRow | None
    employee: Employee | None
    chat_id: Recipient | None
    sends: list[Outgoing] = field(default_factory=list)
    last: list[Outgoing] = field(default_factory=list)  # sent after ``sends`` (the revealed identity)
    wake: bool = False


async def apply(
    bookings: Bookings,
    s: AsyncSession,
    run: Run,
    state: BookingState,
    effects: Sequence[BookingEffect],
    now: datetime,
) -> bool:
    """Carry out ``effects`` in order; False (and nothing after it) when a :class:`HoldSlot` failed."""
    desk = bookings.desk
    row = run.row
    for effect in effects:
        match effect:
            case vocab.HoldSlot():
                if not await booking_repo.hold_slot(s, effect.slot_id, row.id):
                    return False
            case vocab.TellEmployee():
                if run.chat_id is not None:
                    params = bookings.params(effect.params)
                    text = "\n".join(desk.render(key, **params) for key in (effect.key, *effect.lines))
                    run.sends.append(Outgoing(run.chat_id, text, bookings.buttons(effect.buttons, row.id)))
            case vocab.TellCounselor():
                await _tell_counselor(bookings, s, run, state, effect)
            case vocab.OfferFreeSlots():
                if run.chat_id is not None:
                    exclude = state.slot.id if state.slot else (run.slot.id if run.slot else None)
                    run.sends.append(await bookings.slot_offer(s, row.id, run.chat_id, exclude))
            case vocab.ReleaseSlot():
                await booking_repo.release_slot(s, effect.slot_id, row.id)
            case vocab.RevealIdentity():
                await _reveal(bookings, s, run, effect)
            case vocab.ScheduleReminder():
                payload: dict[str, object] = {"booking_id": row.id}
                await repo.schedule(
                    s, TimerKind.BOOKING_REMINDER, effect.at, now, case_id=row.case_id, payload=payload
                )
                run.wake = True
            case vocab.CancelReminder():
                await booking_repo.cancel_reminders(s, row.id, now)
            case vocab.KeepPrivateReason():
                if effect.reason.strip():
                    row.private_reason_enc = desk.store.seal(f"{effect.kind}: {effect.reason.strip()}")
            case vocab.RecordNoShow():
                log.info("booking %s: no-show recorded", row.id)  # the state no_show is the record
            case InviteSurvey():
                run.sends += await bookings.surveys.invite_booking(s, row, effect, run.chat_id)
            case _:
                assert_never(effect)
    return True


async def _tell_counselor(
    bookings: Bookings, s: AsyncSession, run: Run, state: BookingState, effect: vocab.TellCounselor
) -> None:
    slot = state.slot or (as_slot(run.slot) if run.slot else None)
    if slot is None:
        return
    desk = bookings.desk
    row = run.row
    case = await s.get(Case, row.case_id) if row.case_id is not None else None
    header = desk.render("booking.counselor.header", id=row.id, code=case.code if case else row.referral_code)
    body = desk.render(effect.key, **bookings.params(effect.params))
    buttons = effect.buttons + (SESSION_BUTTONS if effect.key in WITH_SESSION_BUTTONS else ())
    run.sends.append(Outgoing(slot.counselor_id, f"{header}\n{body}", bookings.buttons(buttons, row.id)))


async def _reveal(bookings: Bookings, s: AsyncSession, run: Run, effect: vocab.RevealIdentity) -> None:
    """The employee consented: audit first, then show their contact to this counselor only."""
    desk = bookings.desk
    employee = run.employee
    if employee is None or employee.contact_enc is None or run.chat_id is None:
        run.sends.append(Outgoing(effect.counselor_id, desk.render("booking.counselor.identity_missing")))
        return
    await bookings.audit_reveal(s, run, effect.counselor_id, effect.consented_at)
    key = f"booking.counselor.identity.{run.chat_id.channel}"
    text = desk.render(key, contact=run.chat_id.address)
    run.last.append(Outgoing(effect.counselor_id, text))
