"""The employee's side: screen the input, run the intake flow, carry out its effects.

One transaction per update: load the conversation, step the pure flow, write what it decided, commit;
then send. Every text is screened before the flow sees it, in every state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.bot.desk import Desk, Outgoing
from hotline.domain import Category, Channel, Outcome, Screening
from hotline.flows import intake
from hotline.flows.vocabulary import (
    AlertOnDuty,
    CaseClaimed,
    CaseEnded,
    CaseReleased,
    Context,
    Effect,
    Event,
    MarkRisk,
    NotifyCounselor,
    OfferCase,
    OpenCase,
    QueueCase,
    RecordContact,
    RelayToCounselor,
    Reply,
    Said,
    StoreInbound,
    WithdrawCase,
)
from hotline.storage import repo
from hotline.storage.models import Case, Employee

log = logging.getLogger(__name__)

Screen = Callable[[str], Screening]


@dataclass
class _After:
    """What to do once the transaction has committed."""

    sends: list[Outgoing] = field(default_factory=list)
    offer_case: int | None = None
    alerts: list[tuple[int, Screening, str]] = field(default_factory=list)


class EmployeeRunner:
    def __init__(self, desk: Desk, screen: Screen) -> None:
        self.desk = desk
        self.screen = screen

    def pseudonym(self, user_id: int) -> str:
        return self.desk.store.vault.pseudonym(Channel.TELEGRAM.value, str(user_id))

    async def said(self, user_id: int, chat_id: int, text: str) -> None:
        await self.handle(user_id, chat_id, Said(text, self.screen(text)))

    async def handle(self, user_id: int, chat_id: int, event: Event) -> None:
        """Run one employee event through the intake flow (screened text already inside ``Said``)."""
        desk = self.desk
        now = desk.now()
        after = _After()
        async with desk.store.unit() as s:
            thread = await repo.load_thread(s, self.pseudonym(user_id), lock=desk.store.locking)
            conv = thread.conversation
            state = intake.IntakeState(
                conv.state if conv else "idle",
                Category(conv.category) if conv and conv.category else None,
            )
            case = thread.case
            ctx = Context(
                now=now,
                in_service_hours=desk.hours.is_open(now),
                next_opening=desk.hours.next_opening(now),
                case_code=case.code if case else None,
            )
            new_state, effects = intake.step(state, event, ctx)
            if thread.employee is None and (
                new_state.name not in intake.UNSTORED or any(isinstance(e, OpenCase) for e in effects)
            ):
                thread.employee = await repo.ensure_employee(
                    s, self.pseudonym(user_id), Channel.TELEGRAM, now
                )
            for effect in effects:
                case = await self._apply(s, effect, thread.employee, case, chat_id, after)
            employee = thread.employee
            if new_state.name in intake.UNSTORED and (employee is None or employee.contact_enc is None):
                await repo.forget_contact(s, thread)  # never became a case: keep nothing about them
            elif employee is not None:
                category = new_state.category.value if new_state.category else None
                case_id = case.id if case is not None and new_state.name != "idle" else None
                await repo.save_state(s, thread, new_state.name, category, case_id, now)
        await self._after(after)

    async def _apply(
        self,
        s: AsyncSession,
        effect: Effect,
        employee: Employee | None,
        case: Case | None,
        chat_id: int,
        after: _After,
    ) -> Case | None:
        desk = self.desk
        now = desk.now()
        if isinstance(effect, Reply):
            params = dict(effect.params)
            if case is not None:
                params.setdefault("code", case.code)
            text = desk.texts.render(effect.key, params)
            after.sends.append(Outgoing(chat_id, text, desk.keyboard(effect.buttons)))
        elif isinstance(effect, RecordContact):
            await repo.record_contact(s, Channel.TELEGRAM, effect.kind, now)
        elif isinstance(effect, OpenCase):
            assert employee is not None
            employee.contact_enc = desk.seal_contact(chat_id)
            case = await repo.open_case(
                s, channel=Channel.TELEGRAM, employee_id=employee.id, category=effect.category, now=now
            )
        elif case is None:
            log.error("flow effect %s without a case; ignored", type(effect).__name__)
        elif isinstance(effect, StoreInbound):
            await repo.add_message(
                s,
                desk.store,
                case,
                direction="inbound",
                text=effect.text,
                now=now,
                screening=effect.screening,
            )
        elif isinstance(effect, OfferCase):
            after.offer_case = case.id
        elif isinstance(effect, QueueCase):
            await repo.schedule(s, "case.offer", effect.opens_at, now, case_id=case.id)
            desk.wake_timers()
        elif isinstance(effect, RelayToCounselor):
            if case.counselor_id is not None:
                text = desk.render("counselor.relay", code=case.code, text=effect.text)
                after.sends.append(Outgoing(case.counselor_id, text))
        elif isinstance(effect, MarkRisk):
            repo.raise_risk(case, effect.screening.risk)
        elif isinstance(effect, AlertOnDuty):
            after.alerts.append((case.id, effect.screening, effect.text))
        elif isinstance(effect, WithdrawCase):
            await repo.close_case(s, case, "withdrawn", now)
            await repo.cancel_timers(s, case.id, ["case.offer", "session.remind", "crisis.escalate"], now)
        elif isinstance(effect, NotifyCounselor) and case.counselor_id is not None:
            after.sends.append(Outgoing(case.counselor_id, desk.render(effect.key, code=case.code)))
        return case

    async def _after(self, after: _After) -> None:
        # The crisis reply to the employee goes first, then the alert, then everything else.
        if after.alerts:
            await self.desk.deliver(after.sends[:1])
            for case_id, screening, text in after.alerts:
                await self.desk.alert(case_id, screening, text)
            await self.desk.deliver(after.sends[1:])
        else:
            await self.desk.deliver(after.sends)
        if after.offer_case is not None:
            await self.desk.offer(after.offer_case)

    # -- events from the counselor's side ----------------------------------------------------------
    async def case_event(self, case_id: int, event: CaseClaimed | CaseReleased | CaseEnded) -> None:
        """Tell the employee's flow that the counselor claimed, released or ended their case."""
        desk = self.desk
        now = desk.now()
        sends: list[Outgoing] = []
        async with desk.store.unit() as s:
            case = await s.get(Case, case_id)
            if case is None:
                return
            found = await repo.employee_for_case(s, case)
            if found is None:
                return
            employee, conv = found
            chat_id = desk.chat_of(employee)
            if conv is None or conv.case_id != case.id or chat_id is None:
                return
            thread = repo.Thread(employee, conv, case)
            state = intake.IntakeState(conv.state, Category(conv.category) if conv.category else None)
            ctx = Context(now, desk.hours.is_open(now), desk.hours.next_opening(now), case.code)
            new_state, effects = intake.step(state, event, ctx)
            for effect in effects:
                if isinstance(effect, Reply):
                    params = {"code": case.code, **dict(effect.params)}
                    sends.append(
                        Outgoing(
                            chat_id, desk.texts.render(effect.key, params), desk.keyboard(effect.buttons)
                        )
                    )
            category = new_state.category.value if new_state.category else None
            keep_case = case.id if new_state.name != "idle" else None
            await repo.save_state(s, thread, new_state.name, category, keep_case, now)
        await desk.deliver(sends)

    async def relay_from_counselor(self, case: Case, text: str) -> bool:
        """Send a counselor's words to the employee of ``case`` (already stored by the console)."""
        desk = self.desk
        async with desk.store.unit() as s:
            found = await repo.employee_for_case(s, case)
        chat_id = desk.chat_of(found[0]) if found else None
        if chat_id is None:
            return False
        refs = await desk.deliver([Outgoing(chat_id, desk.render("employee.relay", text=text))])
        return refs[0] is not None


__all__ = ["EmployeeRunner", "Outcome"]
