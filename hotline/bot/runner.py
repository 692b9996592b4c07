"""The employee's side: screen the input, run the intake flow, carry out its effects.

One transaction per update: load the conversation, step the pure flow, write what it decided, commit;
then send: crisis reply first, then alerts, then the rest (``hotline/dispatch.py``). Every text is
screened before the flow sees it, in every state. Channel-neutral: the runner serves the employees of one chat channel
(``channel``); they are reached by :class:`~hotline.ports.Recipient` through the desk's channel adapters.
The intake flow's effects are executed by the one executor (``hotline.executor``) in this update's
:class:`~hotline.intake_effects.IntakeEffects`.

The reply budget (DESIGN §4 "never silence"; ``[screening] reply_budget_ms``): a text's reply waits for the
learned layer's verdict that long at most. Past it the text is answered on the lexicon's screening and the
verdict still awaited in the same per-chat turn (the chat's next update waits for it); a verdict that
finds more (a crisis, heavy distress) then goes to the flow as :class:`~hotline.flows.vocabulary.
Rescreened`. The update is settled only by what follows the verdict (``more_to_come``): a stop in
between leaves it stored, and it is carried out (and screened) again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from hotline import pause
from hotline.bot import inbox
from hotline.desk import Desk, Outgoing
from hotline.domain import CaseStatus, Category, Channel, Outcome, Screening
from hotline.executor import execute
from hotline.flows import intake
from hotline.flows.vocabulary import (
    CaseClaimed,
    CaseEnded,
    CaseReleased,
    Command,
    Context,
    Effect,
    Event,
    OpenCase,
    RelayToCounselor,
    Reply,
    Rescreened,
    Said,
    Unsupported,
)
from hotline.intake_effects import AfterUpdate, IntakeEffects
from hotline.line import ticket as line_ticket
from hotline.ports import Recipient
from hotline.recent import Flood, StoredRecent, Window
from hotline.screening_service import Screened, ScreeningService
from hotline.storage import repo
from hotline.storage.models import Case, Conversation, Employee

log = logging.getLogger(__name__)

# Issue 7: takes a text meant for an open survey question; the messages to send, or None if not its.
Aside = Callable[[AsyncSession, Conversation, "Event", Recipient], Awaitable[list[Outgoing] | None]]
# What a counselor-side event means for the case; a case found otherwise has moved on since.
_STATUS_AFTER = {
    CaseClaimed: CaseStatus.ACTIVE.value,
    CaseReleased: CaseStatus.WAITING.value,
    CaseEnded: CaseStatus.CLOSED.value,
}


class EmployeeRunner:
    def __init__(
        self,
        desk: Desk,
        screening: ScreeningService,
        known: set[str] | None = None,
        limiter: Flood | None = None,
        window: Window | None = None,
        channel: Channel = Channel.TELEGRAM,
        aside: Aside | None = None,
        after_end: Callable[[int, Outcome | None], Awaitable[None]] | None = None,
    ) -> None:
        self.desk = desk
        self.channel = channel
        self.screening = screening
        self.window = window
        self.limiter = limiter
        # Pseudonyms with a row, kept in memory only where this process is the database's one writer
        # (SQLite); elsewhere (several instances on PostgreSQL) the database is asked every time.
        self._known = known
        # Issue 7: an awaited survey comment; what follows a case the employee left.
        self.aside = aside
        self.after_end = after_end

    def pseudonym(self, user_id: int | str) -> str:
        return self.desk.store.vault.pseudonym(self.channel.value, str(user_id))

    def text_key(self, key: str) -> str:
        """The channel's own wording of a message where config has one (``[line.consent] notice``
        names LINE where the shared notice names Telegram), else the shared one."""
        own = f"{self.channel.value}.{key}"
        return own if self.desk.texts.has(own) else key

    def recipient(self, chat_id: int | str) -> Recipient:
        """The employee's chat on this runner's channel (a Telegram chat id, a LINE user id)."""
        return Recipient(self.channel.value, str(chat_id))

    async def said(self, user_id: int | str, chat_id: int | str, text: str) -> None:
        if isinstance(self.window, StoredRecent):
            first = self.screening.lexicon(text)
            if first.is_crisis:
                # Several workers (the window in the database): a crisis the lexicon finds needs no
                # earlier words (the learned layer does not run: the lexicon's answer is the screening),
                # so its words and flood token are stored in the update's own transaction, not in one
                # before it (issue 14: one of a crisis's transactions).
                await self.handle(user_id, chat_id, Said(text, first), words=text)
                return
        screened = await self._within(user_id, text)
        if not screened.late:
            await self.handle(user_id, chat_id, Said(text, screened.now))
            return
        # Past the reply budget: the reply goes out now on the lexicon's screening; the update is settled
        # by what follows the verdict, and the slot bounding updates at once is let go of meanwhile.
        with inbox.more_to_come(), line_ticket.more_to_come():
            await self.handle(user_id, chat_id, Said(text, screened.now))
        async with self._meanwhile():
            verdict = await screened.later()
        if verdict.risk.rank <= screened.now.risk.rank:
            return  # nothing more to it (or the learned layer failed: logged, the lexicon's result stands)
        log.info(
            "a late learned verdict (%s) takes the %s for a message already answered",
            verdict.risk.value,
            "crisis path" if verdict.is_crisis else "higher priority",
        )
        self.screening.late_found += 1
        await self.handle(user_id, chat_id, Rescreened(text, verdict))

    async def _within(self, user_id: int | str, text: str) -> Screened:
        """:meth:`screen` within the reply budget (the verdict may come later)."""
        earlier: list[str] = []
        if self.window is not None:
            earlier = await self.window.earlier_then_add(self.pseudonym(user_id), text, self.desk.now())
        return await self.screening.within(text, earlier, self._meanwhile)

    @staticmethod
    @contextlib.asynccontextmanager
    async def _meanwhile() -> AsyncIterator[None]:
        """Waiting for a learned verdict is no work of the update's own: the slot that bounds updates
        carried out at once is let go of meanwhile (its chat's turn is kept), and taken again after."""
        async with line_ticket.waiting(), pause.waiting():
            yield

    async def screen(self, user_id: int | str, text: str) -> Screening:
        """Every layer, the employee's last few messages read with this one (a cue split across them)."""
        if self.window is None:
            return await self.screening.screen(text)
        earlier = await self.window.earlier_then_add(self.pseudonym(user_id), text, self.desk.now())
        return await self.screening.screen(text, earlier)

    async def said_in_case(
        self, user_id: int | str, chat_id: int | str, text: str, screening: Screening
    ) -> None:
        """Words typed after a command: kept (and relayed) when the employee has a case going; outside
        a case they would only repeat the notice, so nothing is done."""
        async with self.desk.store.unit() as s:
            thread = await repo.load_thread(s, self.pseudonym(user_id), lock=False)
            in_case = thread.conversation is not None and thread.conversation.state in intake.IN_CASE
        if in_case:
            await self.handle(user_id, chat_id, Said(text, screening))

    async def handle(
        self, user_id: int | str, chat_id: int | str, event: Event, *, words: str | None = None
    ) -> None:
        """Run one employee event through the intake flow (screened text already inside ``Said``).
        ``words``: a crisis's text that joins the stored window, and takes its flood token, inside this
        update's transaction (:meth:`said`)."""
        desk = self.desk
        now = desk.now()
        after = AfterUpdate()
        to = self.recipient(chat_id)
        pseudonym = after.pseudonym = self.pseudonym(user_id)
        slow_down = False
        if isinstance(event, Said) and self.limiter is not None and words is None:
            decision = await self.limiter.check(pseudonym, now)
            after.limited = not decision.allowed
            slow_down = decision.first_denial  # told once per streak, not on every message
        # Events from someone unknown that store nothing (the notice, help, a sticker, a first "hello"
        # that is answered with the notice) need no transaction; _stateless checks the flow's answer.
        # A crisis always takes the full path (it opens a case): no need to ask whether they are known
        # (on PostgreSQL that is a transaction of its own, one in seven of a crisis burst's).
        storeless = isinstance(event, Command | Unsupported) or (
            isinstance(event, Said) and not after.limited and not slow_down and not event.screening.is_crisis
        )
        if storeless and not await self._is_known(pseudonym) and await self._stateless(event, to, now):
            return
        async with desk.store.unit() as s:
            if words is not None and isinstance(self.window, StoredRecent):
                decision = await self.window.add_in(s, pseudonym, words, now)
                after.limited = not decision.allowed
                slow_down = decision.first_denial
            thread = await repo.load_thread(s, pseudonym, lock=desk.store.locking)
            conv = thread.conversation
            state = intake.IntakeState(
                conv.state if conv else "idle",
                Category(conv.category) if conv and conv.category else None,
            )
            case = thread.case
            aside = await self._aside(s, conv, event, to, after)  # issue 7: a survey comment
            new_state, effects = (state, []) if aside else intake.step(state, event, self._context(now, case))
            opens = any(isinstance(e, OpenCase) for e in effects)
            if thread.employee is None and (new_state.name not in intake.UNSTORED or opens):
                # One opening a case at once (a crisis) is stored with their address: no second write.
                contact = desk.seal_contact(to.address) if opens else None
                thread.employee = await repo.ensure_employee(s, pseudonym, self.channel, now, contact)
            run = self._effects(s, thread, case, to, after)
            await execute(effects, run)
            case = run.case
            self._relay_if_taken(event, effects, case, after)
            employee = thread.employee
            forgotten = new_state.name in intake.UNSTORED and (
                employee is None or employee.contact_enc is None
            )
            if forgotten:
                await repo.forget_contact(s, thread)  # never became a case: keep nothing about them
            elif employee is not None:
                category = new_state.category.value if new_state.category else None
                case_id = case.id if case is not None and new_state.name != "idle" else None
                await repo.save_state(s, thread, new_state.name, category, case_id, now)
            await inbox.settle(s, after.out)  # webhook mode: the update is done with this commit
            await line_ticket.settle(s, after.out)  # LINE on several workers: the same for its event
        self._remember(pseudonym, employee, forgotten)
        if slow_down:  # routine: after any crisis reply, which always goes first
            after.out.routine(Outgoing(to, desk.texts.get("input.rate_limited")))
        await self._after(after)

    async def _is_known(self, pseudonym: str) -> bool:
        if self._known is None:
            return await repo.is_known(self.desk.store, pseudonym)
        return pseudonym in self._known

    def _remember(self, pseudonym: str, employee: Employee | None, forgotten: bool) -> None:
        if self._known is not None:
            if forgotten or employee is None:
                self._known.discard(pseudonym)
            else:
                self._known.add(pseudonym)

    def _relay_if_taken(
        self, event: Event, effects: list[Effect], case: Case | None, after: AfterUpdate
    ) -> None:
        """Words written in the moment between a counselor taking the case and the conversation being
        told so (still "queued") reach the counselor too: the case's own status decides."""
        if not isinstance(event, Said) or case is None or after.limited or case.counselor_id is None:
            return
        if case.status == CaseStatus.ACTIVE.value and not any(
            isinstance(e, RelayToCounselor) for e in effects
        ):
            text = self.desk.render("counselor.relay", code=case.code, text=event.text)
            after.out.routine(Outgoing(case.counselor_id, text))

    def _effects(
        self, s: AsyncSession, thread: repo.Thread, case: Case | None, to: Recipient, after: AfterUpdate
    ) -> IntakeEffects:
        """Where the intake flow's effects of this update run (``hotline.executor`` matches them)."""
        return IntakeEffects(self.desk, self.channel, s, thread, case, to, after, self.text_key, self.window)

    def _context(self, now: datetime, case: Case | None) -> Context:
        hours = self.desk.hours
        return Context(now, hours.is_open(now), hours.next_opening(now), case.code if case else None)

    async def _stateless(self, event: Event, to: Recipient, now: datetime) -> bool:
        """Someone unknown whose event needs no row (reading the notice, help, a sticker): answer without
        a transaction. Returns False when the event must take the full path."""
        new_state, effects = intake.step(intake.IntakeState(), event, self._context(now, None))
        if new_state.name not in intake.UNSTORED or not all(isinstance(e, Reply) for e in effects):
            return False
        replies = [e for e in effects if isinstance(e, Reply)]
        await self.desk.deliver(
            [
                Outgoing(
                    to,
                    self.desk.texts.render(self.text_key(r.key), dict(r.params)),
                    self.desk.keyboard(r.buttons),
                )
                for r in replies
            ]
        )
        return True

    async def _after(self, after: AfterUpdate) -> None:
        await after.out.send(self.desk)  # crisis reply first, then alerts, then the rest (the rule)
        if after.offer_case is not None:
            await self.desk.offer(after.offer_case)
        if after.ended is not None and self.after_end is not None:
            await self.after_end(after.ended, None)

    async def _aside(
        self, s: AsyncSession, conv: Conversation | None, event: Event, to: Recipient, after: AfterUpdate
    ) -> bool:
        """Issue 7: the text answers an open survey question (the hook decides); screened already."""
        if isinstance(event, Rescreened) or self.aside is None or conv is None:
            return False  # a late verdict's text had its turn as ``Said``
        if conv.survey_token_hash is None:
            return False
        sends = await self.aside(s, conv, event, to)
        if sends is None:
            return False
        for item in sends:
            after.out.routine(item)
        return True

    # -- events from the counselor's side ----------------------------------------------------------
    async def case_event(self, case_id: int, event: CaseClaimed | CaseReleased | CaseEnded) -> None:
        """Tell the employee's flow that the counselor claimed, released or ended their case."""
        desk = self.desk
        now = desk.now()
        after = AfterUpdate()
        async with desk.store.unit() as s:
            case = await s.get(Case, case_id)
            if case is None:
                return
            found = await repo.employee_for_case(s, case, lock=desk.store.locking)
            if found is None:
                return
            employee, conv = found
            await s.refresh(case)  # as it is now that the conversation is ours
            if case.status != _STATUS_AFTER[type(event)]:
                return  # the employee's own action (a /cancel, say) came first
            to = desk.recipient_of(employee)  # None for an e-mail case: its contact is an address
            if conv is None or conv.case_id != case.id or to is None:
                return
            thread = repo.Thread(employee, conv, case)
            state = intake.IntakeState(conv.state, Category(conv.category) if conv.category else None)
            new_state, effects = intake.step(state, event, self._context(now, case))
            await execute(effects, self._effects(s, thread, case, to, after))
            category = new_state.category.value if new_state.category else None
            keep_case = case.id if new_state.name != "idle" else None
            await repo.save_state(s, thread, new_state.name, category, keep_case, now)
        await after.out.send(desk)

    async def relay_from_counselor(self, case: Case, text: str) -> bool:
        """Send a counselor's words to the employee of ``case`` (already stored by the console)."""
        desk = self.desk
        async with desk.store.unit() as s:
            found = await repo.employee_for_case(s, case)
        to = desk.recipient_of(found[0]) if found else None
        if to is None:
            return False
        refs = await desk.deliver([Outgoing(to, desk.render("employee.relay", text=text))])
        return refs[0] is not None


__all__ = ["EmployeeRunner", "Outcome"]
