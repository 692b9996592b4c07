"""Face-to-face booking on Telegram: carries out flows/booking's effects for employees and counselors.

One transaction per event: load the booking (locked where the database can), its slot and the employee's
other bookings (the quota), step the pure flow, carry out the effects, save, commit; then send. A slot is
held with a conditional update, so two employees can never both get it (the loser's flow steps
:class:`HoldFailed`). The employee is known to counselors by the case code only; on confirmation the
flow's :class:`RevealIdentity` shows the employee's Telegram contact to the counselor of that slot alone,
after an audit entry (``reveal_identity``, reason "booking consent", with the consent time).

Button data are the flow's constants with ``:<booking id>`` appended; a free slot is ``bk:slot:<booking
id>:<slot id>``. Every press is checked against its presser: an employee only acts on their own booking, a
counselor only on bookings of their own slots. Counselor commands (``/slots``, ``/decline``,
``/cancelbooking``) are in ``booking_console.py``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.bot.booking_effects import ATTENDED, COUNSELOR_CANCEL, NO_SHOW, Run, apply
from hotline.bot.survey import MailAnswers, Surveys
from hotline.desk import Desk, Outgoing
from hotline.domain import Category, Channel
from hotline.flows import booking as flow
from hotline.flows import booking_rules as rules
from hotline.flows import booking_vocab as vocab
from hotline.flows.booking_vocab import BookingContext, BookingEvent, BookingState, HoldFailed, SlotChosen
from hotline.flows.vocabulary import Button
from hotline.ports import ButtonRow, Recipient
from hotline.privacy.audit import Actor, AuditAction, record
from hotline.storage import booking_repo, repo
from hotline.storage.booking_repo import as_slot
from hotline.storage.models import BookingRow, Case, Counselor, Employee, SlotRow

log = logging.getLogger(__name__)

PREFIX = "bk:"
SLOT_PREFIX = "bk:slot:"
EMPLOYEE_EVENTS: dict[str, Callable[[], BookingEvent]] = {
    vocab.ACCEPT_PAY: vocab.AcceptSelfPay,
    vocab.REFUSE_PAY: vocab.RefuseSelfPay,
    vocab.GIVE_CONSENT: vocab.GiveConsent,
    vocab.REFUSE_CONSENT: vocab.RefuseConsent,
    vocab.CANCEL: vocab.EmployeeCancel,
}
COUNSELOR_EVENTS: dict[str, Callable[[], BookingEvent]] = {
    vocab.CONFIRM: vocab.Confirm,
    ATTENDED: vocab.MarkAttended,
    NO_SHOW: vocab.MarkNoShow,
}
CODE_RE = re.compile(booking_repo.CODE_PATTERN, re.IGNORECASE)


_NUMBER = re.compile(r"[0-9]{1,9}")


def small_number(text: str) -> int | None:
    """A row id typed or carried in button data: ASCII digits only (``"²".isdigit()`` is true), and
    small enough for the database's integers."""
    return int(text) if _NUMBER.fullmatch(text) else None


@dataclass(frozen=True, slots=True)
class Party:
    """Who pressed or wrote: an employee (by pseudonym) or a counselor, or the system (a timer)."""

    pseudonym: str | None = None
    counselor_id: int | None = None
    chat_id: int | Recipient | None = None

    @property
    def system(self) -> bool:
        return self.pseudonym is None and self.counselor_id is None


@dataclass(frozen=True, slots=True)
class Asker:
    """An employee writing or pressing in a chat: their pseudonym and where they are (any chat channel)."""

    pseudonym: str
    chat: Recipient


def _area(value: str | None) -> Category | None:
    return Category(value) if value is not None and value in Category._value2member_map_ else None


class Bookings:
    def __init__(self, desk: Desk, surveys: Surveys) -> None:
        self.desk = desk
        self.surveys = surveys

    # -- rendering --------------------------------------------------------------------------------
    def params(self, raw: vocab.Params | tuple[tuple[str, object], ...]) -> dict[str, object]:
        params = dict(raw)
        if params.get("location") == vocab.ONLINE:
            params["location"] = self.desk.texts.get("booking.online")
        params["call_office"] = self.call_office()
        if params.get("area") is None and "area" in params:
            params["area"] = self.desk.texts.get("counselor.card_no_area")
        return params

    def call_office(self) -> str:
        """The clause that tells the employee how to reach the EAP office: its number when configured,
        otherwise to write here (never a blank where a number should be)."""
        phone = self.desk.settings.booking.office_phone
        if phone:
            return self.desk.render("booking.call.office", office_phone=phone)
        return self.desk.texts.get("booking.call.no_phone")

    def say(self, chat_id: int | Recipient, key: str, **params: object) -> Outgoing:
        return Outgoing(chat_id, self.desk.render(key, **self.params(tuple(params.items()))))

    def buttons(self, buttons: tuple[Button, ...], booking_id: int) -> tuple[ButtonRow, ...]:
        labelled = [(self.desk.texts.get(b.key), f"{b.data}:{booking_id}") for b in buttons]
        return tuple(tuple(labelled[i : i + 2]) for i in range(0, len(labelled), 2))

    def slot_label(self, slot: SlotRow) -> str:
        return self.desk.render("booking.slot_button", **self.params(vocab.slot_params(as_slot(slot))))

    async def slot_offer(
        self, s: AsyncSession, booking_id: int, chat_id: int | Recipient, exclude: int | None = None
    ) -> Outgoing:
        free = [f for f in await booking_repo.free_slots(s, self.desk.now()) if f.id != exclude]
        if not free:
            return self.say(chat_id, "booking.no_slots")
        rows = tuple(((self.slot_label(f), f"{SLOT_PREFIX}{booking_id}:{f.id}"),) for f in free)
        return Outgoing(chat_id, self.desk.render("booking.choose_slot"), rows)

    # -- referral -------------------------------------------------------------------------------------
    async def referral_code(self, case_id: int) -> str:
        """The booking code of a referred case, created on first use (chat /end or e-mail /refer)."""
        async with self.desk.store.unit() as s:
            existing = await booking_repo.latest_of_case(s, case_id)
            if existing is not None:
                return existing.referral_code
            case = await s.get(Case, case_id)
            assert case is not None
            code = await booking_repo.new_referral_code(s)
            await booking_repo.add_booking(
                s,
                code=code,
                employee_id=case.employee_id,
                case_id=case.id,
                area=case.category,
                now=self.desk.now(),
            )
            return code

    async def refer_mail(self, case_id: int, mail: MailAnswers, counselor_id: int) -> None:
        """An e-mail case ended with a face-to-face referral: the referral mail with its booking code,
        unless the counselor already sent one (``/refer CODE face``)."""
        async with self.desk.store.unit() as s:
            case = await s.get(Case, case_id)
            if case is None or await booking_repo.latest_of_case(s, case_id) is not None:
                return
            code = case.code
        params = {"code": code, "booking_code": await self.referral_code(case_id)}
        free = self.desk.settings.booking.free_hours_per_year
        text = self.desk.render("mail.referral_face_to_face", **params, free_hours=free)
        await mail.answer(case_id, text, counselor_id, kind="referral")

    async def refer_chat(self, case_id: int) -> None:
        """A chat case ended with a face-to-face referral: the code and the free slots to the employee."""
        code = await self.referral_code(case_id)
        desk = self.desk
        async with desk.store.unit() as s:
            row = await booking_repo.latest_by_code(s, code)
            employee = await s.get(Employee, row.employee_id) if row and row.employee_id else None
            chat_id = desk.recipient_of(employee) if employee is not None else None
            if row is None or chat_id is None:
                return
            free = desk.settings.booking.free_hours_per_year
            sends = [
                self.say(chat_id, "booking.referral", booking_code=code, free_hours=free),
                await self.slot_offer(s, row.id, chat_id),
            ]
        await desk.deliver(sends)

    # -- employee commands ---------------------------------------------------------------------------
    async def _chat_employee(self, s: AsyncSession, who: Asker) -> Employee:
        employee = await s.scalar(select(Employee).where(Employee.pseudonym == who.pseudonym))
        if employee is None:
            employee = await repo.ensure_employee(
                s, who.pseudonym, Channel(who.chat.channel), self.desk.now()
            )
        if employee.contact_enc is None:  # booking needs a way to tell them (cancellation, reminder)
            employee.contact_enc = self.desk.seal_contact(who.chat.address)
        return employee

    async def book(self, who: Asker, args: str) -> None:
        """``/book CODE``: take up a referral (an e-mail referral's code binds to this chat user)."""
        chat_id = who.chat
        match = CODE_RE.fullmatch(args.strip())
        if match is None:
            await self.desk.deliver([self.say(chat_id, "booking.book_usage")])
            return
        code = match.group(0).upper()
        async with self.desk.store.unit() as s:
            row = await booking_repo.latest_by_code(s, code)
            owner = await s.get(Employee, row.employee_id) if row and row.employee_id else None
            if row is None or (owner is not None and owner.channel != Channel.EMAIL.value and
                               owner.pseudonym != who.pseudonym):  # fmt: skip
                sends = [self.say(chat_id, "booking.code_unknown")]
            else:
                employee = await self._chat_employee(s, who)
                if owner is None or owner.id != employee.id:
                    await s.execute(
                        update(BookingRow)
                        .where(BookingRow.referral_code == code)
                        .values(employee_id=employee.id)
                        .execution_options(synchronize_session=False)
                    )
                    row.employee_id = employee.id
                sends = [await self.status(s, row, chat_id)]
        await self.desk.deliver(sends)

    async def mine(self, who: Asker) -> None:
        """``/mybooking``: the employee's latest booking, with a cancel button while it is open."""
        chat_id = who.chat
        async with self.desk.store.unit() as s:
            employee = await s.scalar(select(Employee).where(Employee.pseudonym == who.pseudonym))
            row = await booking_repo.latest_of_employee(s, employee.id) if employee else None
            if row is None or (booking_repo.is_closed(row) and row.state != "declined"):
                sends = [self.say(chat_id, "booking.mine_none")]
            else:
                sends = [await self.status(s, row, chat_id)]
        await self.desk.deliver(sends)

    async def status(self, s: AsyncSession, row: BookingRow, chat_id: int | Recipient) -> Outgoing:
        slot = await s.get(SlotRow, row.slot_id) if row.slot_id else None
        if slot is None or row.state not in ("requested", "confirmed"):
            return await self.slot_offer(s, row.id, chat_id)
        params = self.params(vocab.slot_params(as_slot(slot)))
        params["status"] = self.desk.texts.get(f"booking.status.{row.state}")
        text = self.desk.render("booking.mine", **params)
        return Outgoing(chat_id, text, self.buttons(vocab.CANCEL_BUTTONS, row.id))

    # -- buttons ----------------------------------------------------------------------------------------
    async def employee_button(self, who: Asker, data: str) -> None:
        chat_id = who.chat
        party = Party(pseudonym=who.pseudonym, chat_id=chat_id)
        if data.startswith(SLOT_PREFIX):
            booking_text, _, slot_text = data.removeprefix(SLOT_PREFIX).partition(":")
            booking, slot = small_number(booking_text), small_number(slot_text)
            if booking is not None and slot is not None:
                await self.run(booking, party, slot_id=slot)
                return
        base, _, booking_text = data.rpartition(":")
        make = EMPLOYEE_EVENTS.get(base)
        booking = small_number(booking_text)
        if make is None or booking is None:
            await self.desk.deliver([self.say(chat_id, "booking.stale")])
            return
        await self.run(booking, party, make())

    async def counselor_button(self, who: int, data: str) -> str:
        base, _, booking_id = data.rpartition(":")
        if small_number(booking_id) is None:
            return ""
        if base in (vocab.DECLINE, COUNSELOR_CANCEL):
            key = "booking.counselor.decline_how" if base == vocab.DECLINE else "booking.counselor.cancel_how"
            text = self.desk.render(key, id=booking_id)
            await self.desk.deliver([Outgoing(who, text)])
            return text
        make = COUNSELOR_EVENTS.get(base)
        if make is None:
            return ""
        await self.run(int(booking_id), Party(counselor_id=who), make())
        return ""

    async def reminder(self, booking_id: int) -> None:
        """The timer ``booking_reminder`` (the day before a confirmed session)."""
        await self.run(booking_id, Party(), vocab.ReminderDue())

    # -- the runner -------------------------------------------------------------------------------------
    async def run(
        self, booking_id: int, party: Party, event: BookingEvent | None = None, *, slot_id: int | None = None
    ) -> None:
        """Step one booking with ``event`` (or, with ``slot_id``, the employee's choice of that slot)."""
        desk = self.desk
        now = desk.now()
        run: Run | None = None
        early: list[Outgoing] = []  # a refusal: sent once the transaction is over, like everything else
        async with desk.store.unit() as s:
            row = await booking_repo.booking(s, booking_id, lock=desk.store.locking)
            refusal = await self._refused(s, row, party)
            chosen = await s.get(SlotRow, slot_id) if refusal is None and slot_id is not None else None
            if refusal is not None:
                early.append(refusal)
            elif slot_id is not None and chosen is None:
                early.append(self.say(party.chat_id or 0, "booking.slot_gone"))
            else:
                assert row is not None
                if chosen is not None:
                    event = SlotChosen(as_slot(chosen), free=chosen.booking_id is None)
                    if booking_repo.is_closed(row):  # a new booking under the same referral
                        row = await booking_repo.add_booking(
                            s,
                            code=row.referral_code,
                            employee_id=row.employee_id,
                            case_id=row.case_id,
                            area=row.area,
                            now=now,
                        )
                assert event is not None
                if isinstance(event, vocab.ReminderDue) and row.reminded_at is not None:
                    return  # sent already (a timer run twice: its lease ran out, or a restart)
                run = await self._load(s, row)
                await self._step(s, run, event, now)
                row.updated_at = now
                if isinstance(event, vocab.ReminderDue):
                    row.reminded_at = now
        await desk.deliver([o for o in early if o.chat_id and o.text])
        if run is None:
            return
        if run.wake:
            desk.wake_timers()
        await desk.deliver(run.sends + run.last)

    async def _refused(self, s: AsyncSession, row: BookingRow | None, party: Party) -> Outgoing | None:
        if party.system:
            return None if row is not None else Outgoing(0, "")
        if party.counselor_id is not None:
            slot = await s.get(SlotRow, row.slot_id) if row is not None and row.slot_id else None
            if slot is None or slot.counselor_id != party.counselor_id:
                return Outgoing(party.counselor_id, self.desk.render("booking.counselor.not_yours"))
            return None
        employee = await s.get(Employee, row.employee_id) if row is not None and row.employee_id else None
        if employee is None or employee.pseudonym != party.pseudonym:
            return self.say(party.chat_id or 0, "booking.not_yours")
        return None

    async def _load(self, s: AsyncSession, row: BookingRow) -> Run:
        slot = await s.get(SlotRow, row.slot_id) if row.slot_id else None
        employee = await s.get(Employee, row.employee_id) if row.employee_id else None
        chat_id = self.desk.recipient_of(employee) if employee is not None else None
        return Run(row, slot, employee, chat_id)

    def _state(self, run: Run) -> BookingState:
        row = run.row
        slot = as_slot(run.slot) if run.slot is not None else None
        return BookingState(row.state, slot, _area(row.area), row.paid_minutes, row.consent_at)

    async def _context(self, s: AsyncSession, run: Run, event: BookingEvent, now: datetime) -> BookingContext:
        cfg = self.desk.settings.booking
        used = 0
        slot = event.slot if isinstance(event, SlotChosen) else (as_slot(run.slot) if run.slot else None)
        if run.employee is not None and slot is not None:
            others = await booking_repo.history(s, run.employee.id, exclude=run.row.id)
            used = rules.counted_minutes(
                others, rules.quota_year(slot.start, self.desk.hours.zone), self.desk.hours.zone
            )
        return BookingContext(now, used, cfg.free_hours_per_year, cfg.cancel_min_hours, cfg.remind_leads)

    async def _step(self, s: AsyncSession, run: Run, event: BookingEvent, now: datetime) -> None:
        state, effects = flow.step(self._state(run), event, await self._context(s, run, event, now))
        held = await apply(self, s, run, state, effects, now)
        if not held:  # someone else took the slot first: the request never went out
            state, effects = flow.step(state, HoldFailed(), await self._context(s, run, event, now))
            await apply(self, s, run, state, effects, now)
        run.row.state = state.name
        run.row.slot_id = state.slot.id if state.slot is not None else None
        run.row.paid_minutes = state.paid_minutes
        run.row.consent_at = state.consent_at

    async def audit_reveal(
        self, s: AsyncSession, run: Run, counselor_id: int, consented_at: datetime
    ) -> None:
        staff = await s.get(Counselor, counselor_id)
        actor = Actor.staff(counselor_id, staff.role) if staff is not None else Actor.system()
        await record(
            s,
            actor=actor,
            action=AuditAction.REVEAL_IDENTITY,
            case_id=run.row.case_id,
            reason="booking consent",
            detail={
                "ground": "consent",
                "channel": Channel.TELEGRAM.value,
                "booking": run.row.id,
                "consented_at": consented_at.isoformat(),
            },
            now=self.desk.now(),
        )


__all__ = ["Bookings", "Party"]
