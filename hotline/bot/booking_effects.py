"""What each effect of flows/booking does (rows, timers, the audit trail, messages), inside the booking's
transaction (:class:`BookingEffects`, run by the one executor, ``hotline.executor``). Messages are
collected on the run and sent after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.desk import Outgoing
from hotline.executor import EffectContext, execute
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
    return await execute(effects, BookingEffects(bookings, s, run, state, now))


@dataclass
class BookingEffects(EffectContext):
    """The effects of one booking step, inside the booking's transaction (``hotline.executor``)."""

    bookings: Bookings
    s: AsyncSession
    run: Run
    state: BookingState
    now: datetime

    async def hold_slot(self, effect: vocab.HoldSlot) -> None:
        if not await booking_repo.hold_slot(self.s, effect.slot_id, self.run.row.id):
            self.stopped = True

    async def tell_employee(self, effect: vocab.TellEmployee) -> None:
        run, bookings = self.run, self.bookings
        if run.chat_id is not None:
            params = bookings.params(effect.params)
            text = "\n".join(bookings.desk.render(key, **params) for key in (effect.key, *effect.lines))
            run.sends.append(Outgoing(run.chat_id, text, bookings.buttons(effect.buttons, run.row.id)))

    async def tell_counselor(self, effect: vocab.TellCounselor) -> None:
        await _tell_counselor(self.bookings, self.s, self.run, self.state, effect)

    async def offer_free_slots(self, effect: vocab.OfferFreeSlots) -> None:
        run, state = self.run, self.state
        if run.chat_id is not None:
            exclude = state.slot.id if state.slot else (run.slot.id if run.slot else None)
            run.sends.append(await self.bookings.slot_offer(self.s, run.row.id, run.chat_id, exclude))

    async def release_slot(self, effect: vocab.ReleaseSlot) -> None:
        await booking_repo.release_slot(self.s, effect.slot_id, self.run.row.id)

    async def reveal_identity(self, effect: vocab.RevealIdentity) -> None:
        await _reveal(self.bookings, self.s, self.run, effect)

    async def schedule_reminder(self, effect: vocab.ScheduleReminder) -> None:
        row = self.run.row
        payload: dict[str, object] = {"booking_id": row.id}
        await repo.schedule(
            self.s, TimerKind.BOOKING_REMINDER, effect.at, self.now, case_id=row.case_id, payload=payload
        )
        self.run.wake = True

    async def cancel_reminder(self, effect: vocab.CancelReminder) -> None:
        await booking_repo.cancel_reminders(self.s, self.run.row.id, self.now)

    async def keep_private_reason(self, effect: vocab.KeepPrivateReason) -> None:
        if effect.reason.strip():
            reason = f"{effect.kind}: {effect.reason.strip()}"
            self.run.row.private_reason_enc = self.bookings.desk.store.seal(reason)

    async def record_no_show(self, effect: vocab.RecordNoShow) -> None:
        log.info("booking %s: no-show recorded", self.run.row.id)  # the state no_show is the record

    async def invite_survey(self, effect: InviteSurvey) -> None:
        run = self.run
        run.sends += await self.bookings.surveys.invite_booking(self.s, run.row, effect, run.chat_id)


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
