"""The help desk: what the employee runner, the counselor console, the e-mail station and the timers
share; it belongs to no channel (``station/`` and ``bot/`` both use it).

It renders texts, reaches employees and counselors, offers case cards to whoever is on duty, raises crisis
alerts (``Desk.alerts``, :mod:`hotline.alerts`), and updates cards when a case is taken. Counselors are reached through the
:class:`~hotline.ports.ChatGateway` (by Telegram id); employees of any chat channel through
:attr:`Desk.channels` (one :class:`~hotline.ports.EmployeeChannel` adapter per channel, addressed by
:class:`~hotline.ports.Recipient`; their address is stored encrypted).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.alert_lanes import AlertLanes, is_grouped
from hotline.alerts import CrisisAlerts
from hotline.channels import EmployeeChannels
from hotline.crypto import CONTACT_CONTEXT
from hotline.domain import Category, Risk, Role
from hotline.errors import ChannelError
from hotline.flows.vocabulary import Button
from hotline.hours import ServiceHours
from hotline.loops import Grouped
from hotline.outgoing import Outgoing as Outgoing
from hotline.ports import ButtonRow, ChatGateway, Clock, Recipient
from hotline.privacy import audit
from hotline.privacy.audit import Actor, AuditAction
from hotline.settings import Settings
from hotline.storage import repo
from hotline.storage.models import Case, Counselor, Employee
from hotline.storage.repo import Store
from hotline.texts import Texts

log = logging.getLogger(__name__)

PREVIEW_CHARS = 300
CARDS_AT_ONCE = 5  # case cards one mail batch sends each counselor; the rest are counted in one line


@dataclass(frozen=True, slots=True)
class _Shown:
    """A card or alert sent, to be recorded: to whom with which message reference, and its timer."""

    case_id: int
    kind: str
    shown: tuple[tuple[int, str | None], ...]
    done_timer: int | None
    at: datetime


class Desk:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        texts: Texts,
        gateway: ChatGateway,
        channels: EmployeeChannels,
        hours: ServiceHours,
        clock: Clock,
        wake_timers: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.texts = texts
        self.gateway = gateway
        self.hours = hours
        self.clock = clock
        self.wake_timers = wake_timers
        self.channels = channels  # employees' chat channels, one adapter each
        self.timer_due: Callable[[datetime], None] = lambda _due: wake_timers()  # a timer due then
        self._shown: Grouped[_Shown] = Grouped(self._record_shown)
        self.alerts = CrisisAlerts(self)  # crisis alerts: prepared in a transaction, sent after it
        # Crisis messages to one chat that wait for its turn go as one (hotline/alert_lanes.py).
        self.lanes = AlertLanes(gateway, self.alerts.group_header)

    def now(self) -> datetime:
        return self.clock()

    async def close(self) -> None:
        """Finish recording where cards and alerts were shown (a caller that stopped waiting left its
        item to be recorded in the background)."""
        await self.alerts.wait()
        await self.lanes.wait()
        await self._shown.wait()

    # -- rendering --------------------------------------------------------------------------------
    def render(self, key: str, **params: object) -> str:
        return self.texts.render(key, params)

    def keyboard(self, buttons: Iterable[Button], per_row: int = 2) -> tuple[ButtonRow, ...]:
        labelled = [(self.texts.get(b.key), b.data) for b in buttons]
        return tuple(tuple(labelled[i : i + per_row]) for i in range(0, len(labelled), per_row))

    def channel_name(self, channel: str) -> str:
        """How counselors see a case's channel (``[channel]`` in the messages): never the person."""
        key = f"channel.{channel}"
        return self.texts.get(key) if self.texts.has(key) else channel

    def area_name(self, category: str | None) -> str:
        if category is None:
            return self.texts.get("counselor.card_no_area")
        return self.texts.render("area." + Category(category).value)

    # -- contact data -----------------------------------------------------------------------------
    def seal_contact(self, address: int | str) -> bytes:
        """An employee's address on their channel (a Telegram chat id, a LINE user id), sealed."""
        return self.store.vault.encrypt(str(address), context=CONTACT_CONTEXT)

    def address_of(self, employee: Employee) -> str | None:
        """The employee's sealed address on their channel, opened (None: none kept)."""
        if employee.contact_enc is None:
            return None
        return self.store.vault.decrypt(employee.contact_enc, context=CONTACT_CONTEXT)

    def chat_of(self, employee: Employee) -> int | None:
        if employee.contact_enc is None:
            return None
        return int(self.store.vault.decrypt(employee.contact_enc, context=CONTACT_CONTEXT))

    def recipient_of(self, employee: Employee) -> Recipient | None:
        """Where the employee is reached on their chat channel (None: no contact, or not a chat channel)."""
        if employee.contact_enc is None or employee.channel not in self.channels:
            return None
        address = self.store.vault.decrypt(employee.contact_enc, context=CONTACT_CONTEXT)
        return Recipient(employee.channel, address)

    # -- sending ----------------------------------------------------------------------------------
    async def deliver(self, outgoing: Sequence[Outgoing]) -> list[str | None]:
        """Send in order; a failed send is logged (without content) and does not stop the rest."""
        refs: list[str | None] = []
        for item in outgoing:
            try:
                if isinstance(item.chat_id, Recipient):
                    refs.append(await self.channels.send(item.chat_id, item.text, item.buttons))
                else:
                    refs.append(await self.gateway.send(item.chat_id, item.text, item.buttons))
            except ChannelError as exc:
                log.warning("send failed: %s", exc)
                refs.append(None)
        return refs

    async def edit(self, chat_id: int, ref: str, text: str) -> None:
        try:
            await self.gateway.edit(chat_id, ref, text)
        except ChannelError as exc:
            log.info("could not update a card: %s", exc)

    # -- case cards -------------------------------------------------------------------------------
    async def first_words(self, s: AsyncSession, case: Case) -> str:
        inbound = [
            text
            for direction, text in await repo.messages_of(
                s, self.store, case.id, mark=self.render("counselor.mail.other_sender")
            )
            if direction == "inbound"
        ]
        preview = "\n".join(inbound)
        return preview if len(preview) <= PREVIEW_CHARS else preview[:PREVIEW_CHARS] + "…"

    def card_text(self, case: Case, preview: str) -> str:
        if case.channel == "email":
            due = self.texts.format_datetime(case.reply_due_at) if case.reply_due_at else "—"
            return self.render(
                "counselor.mail.card",
                code=case.code,
                risk=Risk(case.risk),
                received=self.texts.format_datetime(case.opened_at),
                due=due,
                text=preview,
            )
        return self.render(
            "counselor.card",
            code=case.code,
            channel=self.channel_name(case.channel),
            area=self.area_name(case.category),
            risk=Risk(case.risk),
            opened=self.texts.format_datetime(case.opened_at),
            text=preview,
        )

    def claim_button(self, case: Case) -> tuple[ButtonRow, ...]:
        return ((("" + self.texts.get("button.claim"), f"claim:{case.code}"),),)

    async def offer(self, case_id: int, *, exclude: Sequence[int] = ()) -> int:
        """Show a waiting case's card to every on-duty counselor; return how many saw it."""
        async with self.store.unit() as s:
            case = await s.get(Case, case_id)
            if case is None or case.status != "waiting":
                return 0
            people = [c for c in await repo.on_duty(s) if c.telegram_id not in exclude]
            text = self.card_text(case, await self.first_words(s, case))
            buttons = self.claim_button(case)
        refs = await self.deliver([Outgoing(c.telegram_id, text, buttons) for c in people])
        await self.record_shown(
            case_id, "case", [(c.telegram_id, ref) for c, ref in zip(people, refs, strict=True)]
        )
        return sum(ref is not None for ref in refs)

    async def offer_many(self, case_ids: Sequence[int]) -> None:
        """Offer the new cases of one mail batch (≤ 200 mails): with nobody on duty that is one query,
        however many there are; otherwise each on-duty counselor gets the first few cards and one line
        for the rest (a mailbox that fills up while the service is down must not bury them in cards)."""
        if not case_ids:
            return
        async with self.store.unit() as s:
            people = [c.telegram_id for c in await repo.on_duty(s)]
        if not people:
            return
        for case_id in case_ids[:CARDS_AT_ONCE]:
            await self.offer(case_id)
        if (rest := len(case_ids) - CARDS_AT_ONCE) > 0:
            await self.deliver(
                [Outgoing(p, self.render("counselor.mail.more_waiting", count=rest)) for p in people]
            )

    async def record_shown(
        self, case_id: int, kind: str, shown: Sequence[tuple[int, str | None]], done_timer: int | None = None
    ) -> None:
        """Remember where a card or an alert was shown (and finish its backup timer): one transaction
        for every send that finished meanwhile (a crisis burst is recorded in a few commits, not one
        each, on SQLite's one connection)."""
        if not shown and done_timer is None:
            return
        await self._shown.do(_Shown(case_id, kind, tuple(shown), done_timer, self.now()))

    async def _record_shown(self, group: Sequence[_Shown]) -> None:
        """The group in four statements whatever its size: timers finished, offers looked up, offers
        and audit entries added."""
        async with self.store.unit() as s:
            await repo.finish_timers(s, [(i.done_timer, i.at) for i in group if i.done_timer is not None])
            # per kind: a case card and a crisis alert are both updated when the case is taken
            already = await repo.shown_in(s, sorted({i.case_id for i in group}))
            offers: list[tuple[int, int, str, str | None, datetime]] = []
            reads: list[audit.Entry] = []
            for item in group:
                for counselor_id, ref in item.shown:
                    if (item.case_id, counselor_id, item.kind) not in already:
                        offers.append((item.case_id, counselor_id, item.kind, ref, item.at))
                        already.add((item.case_id, counselor_id, item.kind))
                    if ref is not None:  # the card carried the case's words: a read, in the audit trail
                        reads.append(self._read(counselor_id, item.case_id, item.kind, item.at))
            await repo.record_offers(s, offers)
            await audit.record_many(s, reads)

    async def audit_refusal(self, command: str) -> None:
        """Someone not on the roster tried a console command: recorded (anonymously: an employee)."""
        async with self.store.unit() as s:
            await audit.record(
                s,
                actor=Actor.employee(),
                action=AuditAction.ACCESS_DENIED,
                detail={"wanted": command, "why": "not on the roster"},
                now=self.now(),
            )

    async def audit_read(
        self, s: AsyncSession, counselor_id: int, case_id: int, what: str, now: datetime
    ) -> None:
        await audit.record_many(s, [self._read(counselor_id, case_id, what, now)])

    def _read(self, counselor_id: int, case_id: int, what: str, now: datetime) -> audit.Entry:
        role = self.settings.role_of(counselor_id) or Role.COUNSELOR
        actor = Actor.staff(counselor_id, role)
        return audit.Entry(actor, AuditAction.READ_CASE, now, case_id, {"wanted": what})

    async def mark_taken(self, case_id: int, taker: Counselor, code: str) -> None:
        """Update the cards and alerts shown to everyone else: the case has been taken."""
        async with self.store.unit() as s:
            offers = [o for o in await repo.offers_for(s, case_id) if o.counselor_id != taker.telegram_id]
        for offer in offers:
            if offer.card_ref is None or is_grouped(offer.card_ref):
                continue  # a grouped alert stays as it is: it carries other cases too
            key = "counselor.alert_taken" if offer.kind == "alert" else "counselor.claimed_other"
            await self.edit(offer.counselor_id, offer.card_ref, self.render(key, code=code, name=taker.name))
