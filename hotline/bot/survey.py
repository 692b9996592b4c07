"""The anonymous satisfaction survey on Telegram (and its invitation by e-mail): runs flows/survey.

Invitation, once per case (or per face-to-face booking): the flag is set with a conditional update and the
token row is inserted in the same transaction (see ``flows/survey.py``). Telegram: the invitation carries
the token in its buttons' data (``sv:...:<token>``). E-mail: the closing mail carries the token as a code
for ``/survey <token>`` on Telegram. Answers are held sealed until their month is over, then stored with
channel (or "merged") and month only, as far as these hide the writer among 5 or more (issue 17).

The optional comment is free text: while the token's state is ``comment`` the token's hash is kept on the
employee's conversation row (``survey_token_hash``) and :meth:`Surveys.aside` takes the next text written
in the idle state. That text has been screened before it gets here; a crisis never reaches it (the
runner sends a crisis down the crisis path, and the comment stays open).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.desk import Desk, Outgoing
from hotline.domain import Channel
from hotline.executor import EffectContext, execute
from hotline.flows import survey
from hotline.flows.survey import (
    DiscardToken,
    InviteEffect,
    InviteSurvey,
    IssueToken,
    MarkCaseInvited,
    StoreSurveyAnswer,
    SurveyState,
    hash_token,
)
from hotline.flows.vocabulary import Button, Event, Reply, Said
from hotline.ports import ButtonRow, Recipient
from hotline.storage import booking_repo, repo, survey_repo
from hotline.storage.models import BookingRow, Case, Conversation, Employee, SurveyToken

log = logging.getLogger(__name__)
COMMENT_WINDOW = timedelta(minutes=30)  # after the prompt; later words are a new request

PREFIX = "sv:"
TOKEN_CHARS = 22  # secrets.token_urlsafe(16)


class MailAnswers(Protocol):
    async def answer(self, case_id: int, text: str, counselor_id: int, *, kind: str = "answer") -> bool: ...


class Surveys:
    def __init__(self, desk: Desk, mail: MailAnswers | None = None) -> None:
        self.desk = desk
        self.mail = mail

    def keyboard(self, buttons: Iterable[Button], token: str) -> tuple[ButtonRow, ...]:
        labelled = [(self.desk.texts.get(b.key), f"{b.data}:{token}") for b in buttons]
        per_row = 5 if len(labelled) > 5 else 2
        return tuple(tuple(labelled[i : i + per_row]) for i in range(0, len(labelled), per_row))

    # -- invitations --------------------------------------------------------------------------------
    async def _issue(self, s: AsyncSession, effects: list[InviteEffect], mark: object) -> (
        tuple[str, IssueToken] | None
    ):  # fmt: skip
        run = _Invite(s, mark)
        if not await execute(effects, run):
            return None  # invited already (a concurrent ending won)
        return run.token

    async def invite_case(self, case_id: int) -> None:
        """A chat or e-mail case ended: invite its employee once (a chat message, or an e-mail)."""
        desk = self.desk
        now = desk.now()
        async with desk.store.unit() as s:
            case = await s.get(Case, case_id)
            if case is None:
                return
            event = InviteSurvey(case.channel, case.closed_at or now)
            issued = await self._issue(s, survey.invite(case.survey_invited, event, desk.hours.zone), case)
            if issued is None:
                return
            to = None  # an employee on a chat channel (the desk's adapters); e-mail goes by mail
            if case.employee_id is not None:
                employee = await s.get(Employee, case.employee_id)
                to = desk.recipient_of(employee) if employee is not None else None
            channel, counselor_id = case.channel, case.counselor_id
        token, issue = issued
        if to is not None:
            await desk.deliver([Outgoing(to, desk.render(issue.key), self.keyboard(issue.buttons, token))])
        elif channel == Channel.EMAIL.value and self.mail is not None and counselor_id is not None:
            await self.mail.answer(
                case_id, desk.render("survey.mail_invite", token=token), counselor_id, kind="survey"
            )

    async def invite_booking(
        self, s: AsyncSession, row: BookingRow, event: InviteSurvey, chat_id: int | Recipient | None
    ) -> list[Outgoing]:
        """A face-to-face session was attended: the invitation, inside the booking's transaction."""
        effects = survey.invite(row.survey_invited, event, self.desk.hours.zone)
        issued = await self._issue(s, effects, row)
        if issued is None or chat_id is None:
            return []
        token, issue = issued
        return [Outgoing(chat_id, self.desk.render(issue.key), self.keyboard(issue.buttons, token))]

    # -- answering ----------------------------------------------------------------------------------
    async def pressed(self, pseudonym: str, chat_id: int | Recipient, data: str) -> None:
        base, _, token = data.rpartition(":")
        event = survey.event_for_button(base)
        if event is None or not token:
            await self.desk.deliver([Outgoing(chat_id, self.desk.render("survey.stale"))])
            return
        await self._step(pseudonym, chat_id, token, event)

    async def by_code(self, pseudonym: str, chat_id: int | Recipient, token: str) -> None:
        """``/survey <token>`` (the code from an e-mail): show the current question of that invitation."""
        desk = self.desk
        token = token.strip()
        async with desk.store.unit() as s:
            row = await booking_repo.token_row(s, hash_token(token), lock=False) if token else None
            state = self._state(row) if row is not None else None
        if state is None:
            await desk.deliver([Outgoing(chat_id, desk.render("survey.survey_usage"))])
            return
        key, buttons = {
            "rating": ("survey.invite", survey.RATING_BUTTONS),
            "recommend": ("survey.ask_recommend", survey.RECOMMEND_BUTTONS),
        }.get(state.name, ("survey.ask_comment", survey.COMMENT_BUTTONS))
        if state.name == "comment":
            async with desk.store.unit() as s:
                await self._await_comment(s, pseudonym, hash_token(token), chat_id)
        await desk.deliver([Outgoing(chat_id, desk.render(key), self.keyboard(buttons, token))])

    @staticmethod
    def _state(row: SurveyToken | None) -> SurveyState | None:
        if row is None:
            return None
        return SurveyState(row.channel, row.month, row.state, row.rating, row.recommend)

    async def _step(
        self, pseudonym: str, chat_id: int | Recipient, token: str, event: survey.SurveyEvent
    ) -> None:
        desk = self.desk
        digest = hash_token(token)
        async with desk.store.unit() as s:
            row = await booking_repo.token_row(s, digest, lock=desk.store.locking)
            if row is None:  # used up (answered, declined or expired): answering twice is impossible
                sends = [Outgoing(chat_id, desk.render("survey.already_done"))]
            else:
                sends, open_in = await self._apply(s, row, event, chat_id, token)
                if open_in == "comment":
                    await self._await_comment(s, pseudonym, digest, chat_id)
        await desk.deliver(sends)

    async def _apply(
        self,
        s: AsyncSession,
        row: SurveyToken,
        event: survey.SurveyEvent,
        chat_id: int | Recipient,
        token: str,
    ) -> tuple[list[Outgoing], str | None]:
        """Step the invitation; return the messages and the state it is left open in (None: used up)."""
        state = self._state(row)
        assert state is not None
        new, effects = survey.step(state, event)
        run = _Answer(self, s, row, chat_id, token)
        await execute(effects, run)
        sends, discarded = run.sends, run.discarded
        if discarded:
            return sends, None
        row.state, row.rating, row.recommend = new.name, new.rating, new.recommend
        return sends, new.name

    async def sweep(self) -> int:
        """Invitations left open since before last month expire: whatever was answered is kept (as the
        flow stores it), the token goes; and no conversation keeps its link to an open survey past the
        comment window. Run by the daily maintenance timer."""
        now = self.desk.now()
        before = survey.month_of(now - timedelta(days=31))
        async with self.desk.store.unit() as s:
            await s.execute(
                update(Conversation)
                .where(
                    Conversation.survey_token_hash.is_not(None),
                    Conversation.updated_at < now - COMMENT_WINDOW,
                )
                .values(survey_token_hash=None)
            )
            rows = await booking_repo.stale_tokens(s, before)
            for row in rows:
                await self._apply(s, row, survey.Expired(), 0, "")
        async with self.desk.store.unit() as s:  # answers of months that are over, as they allow
            stored, dropped = await survey_repo.release_answers(s, self.desk.store, survey.month_of(now))
        if stored or dropped:
            log.info("survey: %d answers released, %d kept back by their month's size", stored, dropped)
        return len(rows)

    async def _await_comment(
        self, s: AsyncSession, pseudonym: str, digest: str, chat: int | Recipient
    ) -> None:
        """Keep the token's hash on the employee's conversation while the comment is awaited."""
        employee = await s.scalar(select(Employee).where(Employee.pseudonym == pseudonym))
        if employee is None:
            channel = Channel(chat.channel) if isinstance(chat, Recipient) else Channel.TELEGRAM
            employee = await repo.ensure_employee(s, pseudonym, channel, self.desk.now())
        conv = await s.get(Conversation, employee.id)
        if conv is None:
            conv = Conversation(employee_id=employee.id, state="idle", updated_at=self.desk.now())
            s.add(conv)
        conv.survey_token_hash = digest
        conv.updated_at = self.desk.now()  # the comment is awaited from now, for COMMENT_WINDOW

    async def aside(
        self, s: AsyncSession, conv: Conversation, event: Event, chat_id: int | Recipient
    ) -> list[Outgoing] | None:
        """The runner's hook: the employee's text is the awaited comment (None: not for the survey).
        Only a screened, non-crisis text written while no conversation is going on counts."""
        digest = conv.survey_token_hash
        if digest is None:
            return None
        if conv.state != "idle" or self.desk.now() - conv.updated_at > COMMENT_WINDOW:
            # They started something else, or came back much later (likely for help, not to comment):
            # the text goes to the intake; the survey's buttons still work.
            conv.survey_token_hash = None
            return None
        if not isinstance(event, Said) or event.screening.is_crisis:
            return None
        row = await booking_repo.token_row(s, digest, lock=self.desk.store.locking)
        conv.survey_token_hash = None
        if row is None:
            return None
        sends, _ = await self._apply(s, row, survey.Commented(event.text), chat_id, "")
        return sends


@dataclass
class _Invite(EffectContext):
    """An invitation's effects (``survey.invite``): the flag set once, the token issued."""

    s: AsyncSession
    mark: object  # the BookingRow or Case invited
    token: tuple[str, IssueToken] | None = None

    async def mark_case_invited(self, effect: MarkCaseInvited) -> None:
        if isinstance(self.mark, BookingRow):
            won = await booking_repo.mark_booking_invited(self.s, self.mark.id)
        else:
            assert isinstance(self.mark, Case)
            won = await booking_repo.mark_case_invited(self.s, self.mark.id)
        self.stopped = not won  # invited already (a concurrent ending won)

    async def issue_token(self, effect: IssueToken) -> None:
        self.token = (await booking_repo.issue_token(self.s, effect.state), effect)


@dataclass
class _Answer(EffectContext):
    """An answer's effects (``survey.step``): the reply, the answer stored, the token discarded."""

    surveys: Surveys
    s: AsyncSession
    row: SurveyToken
    chat_id: int | Recipient
    token: str
    sends: list[Outgoing] = field(default_factory=list)
    discarded: bool = False

    async def reply(self, effect: Reply) -> None:
        text = self.surveys.desk.render(effect.key)
        self.sends.append(Outgoing(self.chat_id, text, self.surveys.keyboard(effect.buttons, self.token)))

    async def store_survey_answer(self, effect: StoreSurveyAnswer) -> None:
        await booking_repo.store_answer(self.s, self.surveys.desk.store, effect)

    async def discard_token(self, effect: DiscardToken) -> None:
        await booking_repo.discard_token(self.s, self.row.token_hash)
        self.s.expunge(self.row)  # deleted: the row must not be flushed again
        self.discarded = True
