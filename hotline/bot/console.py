"""The counselor's console: duty, queue, claiming, relaying, notes, transfer and ending a case.

Every command here is for people on the roster; the Telegram layer routes only roster members here.
Counselors see case codes, never the employee's Telegram name, username or id.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

from hotline.bot.records import CaseRecords
from hotline.bot.runner import EmployeeRunner
from hotline.desk import Desk, Outgoing
from hotline.domain import CASE_CODE_PATTERN, CaseStatus, Outcome, Role
from hotline.flows.vocabulary import CaseClaimed, CaseEnded, CaseReleased
from hotline.storage import repo
from hotline.storage.models import Case, Counselor
from hotline.timer_kinds import TimerKind

log = logging.getLogger(__name__)


class MailAnswers(Protocol):
    async def answer(self, case_id: int, text: str, counselor_id: int, *, kind: str = "answer") -> bool: ...


CODE_RE = re.compile(CASE_CODE_PATTERN, re.IGNORECASE)
SESSION_TIMERS = [TimerKind.SESSION_REMIND]


class Console:
    def __init__(
        self,
        desk: Desk,
        runner: EmployeeRunner,
        mail: MailAnswers | None = None,
        *,
        booking_code: Callable[[int], Awaitable[str]] | None = None,
        after_end: Callable[[int, Outcome | None], Awaitable[None]] | None = None,
    ) -> None:
        self.desk = desk
        self.runner = runner
        self.mail = mail
        self.records = CaseRecords(desk)
        # Issue 7: a referred case's booking code; what follows the end of a case.
        self.booking_code = booking_code
        self.after_end = after_end

    async def _say(self, who: int, key: str, **params: object) -> None:
        await self.desk.deliver([Outgoing(who, self.desk.render(key, **params))])

    # -- commands ---------------------------------------------------------------------------------
    async def command(self, who: int, name: str, args: str, reply_to_text: str | None) -> None:
        handlers: dict[str, Callable[[int, str, str | None], Awaitable[None]]] = {
            "onduty": self.on_duty,
            "offduty": self.off_duty,
            "queue": self.queue,
            "case": self.switch,
            "note": self.note,
            "transfer": self.transfer,
            "end": self.end,
            "reply": self.reply,
            "view": self.records.view,
            "reveal": self._reveal,
            "refer": self.refer,
        }
        handler = handlers.get(name)
        if name in {"start", "help"}:
            await self._say(who, "counselor.help")
        elif handler is None:
            await self._say(who, "counselor.unknown_command")
        else:
            await handler(who, args, reply_to_text)

    async def _reveal(self, who: int, args: str, reply_to_text: str | None) -> None:
        role = self.desk.settings.role_of(who)
        if role is not Role.SUPERVISOR:
            await self.records.refused(who, (role or Role.COUNSELOR).value, "reveal")
        else:
            await self.records.reveal(who, args, reply_to_text)

    async def on_duty(self, who: int, _args: str = "", _reply: str | None = None) -> None:
        async with self.desk.store.unit() as s:
            await repo.set_duty(s, who, True, self.desk.now())
            waiting = len(await repo.waiting_cases(s))
        await self._say(who, "counselor.on_duty", count=waiting)

    async def off_duty(self, who: int, _args: str = "", _reply: str | None = None) -> None:
        async with self.desk.store.unit() as s:
            await repo.set_duty(s, who, False, self.desk.now())
        await self._say(who, "counselor.off_duty")

    async def queue(self, who: int, _args: str = "", _reply: str | None = None) -> None:
        desk = self.desk
        async with desk.store.unit() as s:
            cases = await repo.waiting_cases(s)
            cards = [(c, desk.card_text(c, await desk.first_words(s, c))) for c in cases]
        if not cards:
            await self._say(who, "counselor.queue_empty")
            return
        await self._say(who, "counselor.queue_header", count=len(cards))
        refs = await desk.deliver([Outgoing(who, text, desk.claim_button(c)) for c, text in cards])
        now = desk.now()
        async with desk.store.unit() as s:
            for (case, _), ref in zip(cards, refs, strict=True):
                if not await repo.offered_to(s, case.id, who, "case"):
                    await repo.record_offer(s, case.id, who, "case", ref, now)

    async def _current(self, who: int, args: str, reply_to_text: str | None) -> Case | None:
        """The case a counselor's words are about: a code in the args or the replied-to message, else
        their current case. Only their own active cases qualify."""
        code = None
        for source in (args, reply_to_text or ""):
            match = CODE_RE.search(source)
            if match:
                code = match.group(0).upper()
                break
        async with self.desk.store.unit() as s:
            me = await repo.counselor(s, who)
            if me is None:
                return None
            if code is not None:
                case = await repo.case_by_code(s, code)
            else:
                case = await s.get(Case, me.current_case_id) if me.current_case_id else None
            if case is None or case.status != CaseStatus.ACTIVE.value or case.counselor_id != who:
                return None
            me.current_case_id = case.id
            return case

    async def switch(self, who: int, args: str, reply_to_text: str | None) -> None:
        case = await self._current(who, args, None)
        if case is None:
            await self._say(who, "counselor.unknown_case", code=args.strip() or "—")
        else:
            await self._say(who, "counselor.switched", code=case.code)

    async def note(self, who: int, args: str, reply_to_text: str | None) -> None:
        text = CODE_RE.sub("", args, count=1).strip() if CODE_RE.match(args.strip()) else args.strip()
        if not text:
            await self._say(who, "counselor.note_usage")
            return
        case = await self._current(who, args, reply_to_text)
        if case is None:
            await self._say(who, "counselor.no_case")
            return
        async with self.desk.store.unit() as s:
            fresh = await s.get(Case, case.id)
            assert fresh is not None
            await repo.add_message(
                s, self.desk.store, fresh, direction="note", text=text, now=self.desk.now(), counselor_id=who
            )
        await self._say(who, "counselor.note_saved", code=case.code)

    async def transfer(self, who: int, args: str, reply_to_text: str | None) -> None:
        case = await self._current(who, args, reply_to_text)
        if case is None:
            await self._say(who, "counselor.no_case")
            return
        now = self.desk.now()
        async with self.desk.store.unit() as s:
            fresh = await s.get(Case, case.id)
            me = await repo.counselor(s, who)
            assert fresh is not None and me is not None
            await repo.release(s, fresh)
            await repo.cancel_timers(s, case.id, SESSION_TIMERS, now)
            me.current_case_id = None
        await self.runner.case_event(case.id, CaseReleased())
        await self._say(who, "counselor.transferred", code=case.code)
        await self.desk.offer(case.id, exclude=[who])

    async def end(self, who: int, args: str, reply_to_text: str | None) -> None:
        case = await self._current(who, args, reply_to_text)
        if case is None:
            await self._say(who, "counselor.no_case")
            return
        buttons = tuple(
            ((self.desk.texts.get(f"button.end_{o.value}"), f"end:{case.code}:{o.value}"),) for o in Outcome
        )
        await self.desk.deliver(
            [Outgoing(who, self.desk.render("counselor.end_choose", code=case.code), buttons)]
        )

    # -- e-mail cases ----------------------------------------------------------------------------------
    async def _email_case(self, who: int, code: str) -> Case | None:
        """An e-mail case the counselor may answer: theirs, or waiting (then they take it now)."""
        async with self.desk.store.unit() as s:
            case = await repo.case_by_code(s, code)
            if case is None or case.channel != "email":
                return case
            if case.status == CaseStatus.WAITING.value:
                if not await repo.claim(s, case.id, who, self.desk.now()):
                    return None
                await repo.cancel_timers(
                    s, case.id, [TimerKind.CASE_OFFER, TimerKind.CRISIS_ESCALATE], self.desk.now()
                )
                await repo.acknowledge_alerts(s, case.id, who, self.desk.now())
                await s.refresh(case)
            if case.status != CaseStatus.ACTIVE.value or case.counselor_id != who:
                return None
            me = await repo.counselor(s, who)
            if me is not None:
                me.current_case_id = case.id
            return case

    async def reply(self, who: int, args: str, reply_to_text: str | None) -> None:
        match = CODE_RE.match(args.strip())
        text = args.strip()[match.end() :].strip() if match else ""
        if match is None or not text:
            await self._say(who, "counselor.mail.reply_usage")
            return
        code = match.group(0).upper()
        case = await self._email_case(who, code)
        if case is None:
            await self._say(who, "counselor.unknown_case", code=code)
        elif case.channel != "email":
            await self._say(who, "counselor.mail.not_email", code=code)
        else:
            await self._answer_mail(who, case, text)

    async def refer(self, who: int, args: str, reply_to_text: str | None) -> None:
        parts = args.split()
        kinds = {"face": "mail.referral_face_to_face", "medical": "mail.referral_medical"}
        if len(parts) != 2 or not CODE_RE.fullmatch(parts[0]) or parts[1] not in kinds:
            await self._say(who, "counselor.mail.refer_usage")
            return
        code = parts[0].upper()
        case = await self._email_case(who, code)
        if case is None or case.channel != "email" or self.mail is None:
            await self._say(
                who, "counselor.unknown_case" if case is None else "counselor.mail.not_email", code=code
            )
            return
        params: dict[str, object] = {"code": code}
        if parts[1] == "face" and self.booking_code is not None:  # issue 7: the code for /book
            params["booking_code"] = await self.booking_code(case.id)
            params["free_hours"] = self.desk.settings.booking.free_hours_per_year
        text = self.desk.render(kinds[parts[1]], **params)
        if await self.mail.answer(case.id, text, who, kind="referral"):
            await self._say(who, "counselor.mail.referred", code=code)
        else:
            await self._say(who, "counselor.send_failed", code=code)

    async def _answer_mail(self, who: int, case: Case, text: str) -> None:
        if self.mail is None or not await self.mail.answer(case.id, text, who):
            await self._say(who, "counselor.send_failed", code=case.code)
        else:
            await self._say(who, "counselor.mail.queued", code=case.code)

    # -- text and buttons ---------------------------------------------------------------------------
    async def text(self, who: int, text: str, reply_to_text: str | None) -> None:
        """A counselor's plain text goes to the employee of their current case, under its code."""
        case = await self._current(who, "", reply_to_text)
        if case is None and reply_to_text:
            match = CODE_RE.search(reply_to_text)
            case = await self._email_case(who, match.group(0).upper()) if match else None
        if case is None:
            await self._say(who, "counselor.no_case")
            return
        if case.channel == "email":
            await self._answer_mail(who, case, text)
            return
        async with self.desk.store.unit() as s:
            fresh = await s.get(Case, case.id)
            assert fresh is not None
            await repo.add_message(
                s,
                self.desk.store,
                fresh,
                direction="outbound",
                text=text,
                now=self.desk.now(),
                counselor_id=who,
            )
        if not await self.runner.relay_from_counselor(case, text):
            await self._say(who, "counselor.send_failed", code=case.code)

    async def button(self, who: int, data: str) -> str:
        """Handle a console button; return a short answer for the button press."""
        kind, _, rest = data.partition(":")
        if kind in {"claim", "ack"}:
            return await self.claim(who, rest.upper(), acknowledge=kind == "ack")
        if kind == "end":
            code, _, outcome = rest.partition(":")
            if outcome in Outcome._value2member_map_:
                return await self.finish(who, code.upper(), Outcome(outcome))
        return ""

    async def claim(self, who: int, code: str, *, acknowledge: bool) -> str:
        desk = self.desk
        now = desk.now()
        async with desk.store.unit() as s:
            me = await repo.counselor(s, who)
            case = await repo.case_by_code(s, code)
            if me is None or case is None:
                return desk.render("counselor.unknown_case", code=code)
            if case.status == CaseStatus.ACTIVE.value and case.counselor_id == who:
                return desk.render("counselor.switched", code=code)  # pressed twice: harmless
            won = await repo.claim(s, case.id, who, now)
            if won:
                me.current_case_id = case.id
                await repo.cancel_timers(
                    s,
                    case.id,
                    [TimerKind.CASE_OFFER, TimerKind.CRISIS_ESCALATE, TimerKind.CRISIS_RESEND],
                    now,
                )
                await repo.acknowledge_alerts(s, case.id, who, now)
                minutes = desk.settings.session.remind_after_minutes
                await repo.schedule(
                    s, TimerKind.SESSION_REMIND, now + timedelta(minutes=minutes), now, case_id=case.id
                )
                mark = desk.render("counselor.mail.other_sender")
                history = await repo.messages_of(s, desk.store, case.id, mark=mark)
                await desk.audit_read(s, who, case.id, "transcript", now)
            case_id, taker = case.id, me
        if not won:
            await self._say(who, "counselor.already_taken", code=code)
            return desk.render("counselor.already_taken", code=code)
        desk.wake_timers()
        transcript = "\n".join(f"• {text}" for direction, text in history if direction == "inbound")
        await self._say(who, "counselor.claimed_you", code=code)
        if transcript:
            await self._say(who, "counselor.relay", code=code, text=transcript)
        await desk.mark_taken(case_id, taker, code)
        await self.runner.case_event(case_id, CaseClaimed())
        return desk.render("counselor.switched", code=code)

    async def finish(self, who: int, code: str, outcome: Outcome) -> str:
        desk = self.desk
        now = desk.now()
        async with desk.store.unit() as s:
            case = await repo.case_by_code(s, code)
            me = await repo.counselor(s, who)
            if (
                case is None
                or me is None
                or case.counselor_id != who
                or case.status != CaseStatus.ACTIVE.value
            ):
                return desk.render("counselor.unknown_case", code=code)
            await repo.close_case(s, case, outcome.value, now)
            await repo.cancel_timers(s, case.id, [*SESSION_TIMERS, TimerKind.CRISIS_ESCALATE], now)
            if me.current_case_id == case.id:
                me.current_case_id = None
            case_id = case.id
        await self.runner.case_event(case_id, CaseEnded(outcome))
        if self.after_end is not None:  # issue 7: booking code on a face-to-face referral; the survey
            await self.after_end(case_id, outcome)
        await self._say(who, "counselor.ended", code=code, outcome=outcome)
        return desk.render("counselor.ended", code=code, outcome=outcome)

    async def remind(self, case_id: int) -> None:
        """The time-box reminder (timer ``session.remind``)."""
        async with self.desk.store.unit() as s:
            case = await s.get(Case, case_id)
            if case is None or case.status != CaseStatus.ACTIVE.value or case.counselor_id is None:
                return
            who, code = case.counselor_id, case.code
        minutes = int(self.desk.settings.session.remind_after_minutes)
        await self._say(who, "counselor.remind", code=code, minutes=minutes)


__all__ = ["Console", "Counselor"]
