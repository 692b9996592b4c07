"""After a case (issue 7): face-to-face booking and the satisfaction survey, behind one object that the
Telegram front, the console and the runner call through small hooks (wired in ``app.py``).

Routing: employees' ``/book CODE``, ``/mybooking``, ``/survey CODE`` and their ``bk:``/``sv:`` buttons;
counselors' ``/slots``, ``/decline``, ``/cancelbooking`` and their ``bk:`` buttons. When a case ends
(:meth:`Aftercare.case_ended`): a face-to-face referral gives the employee a booking code (with the free
slots in a chat; in a mail, unless ``/refer CODE face`` already sent one); every ended case that was served
gets one survey invitation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.bot.booking import PREFIX as BOOKING_PREFIX
from hotline.bot.booking import Asker, Bookings
from hotline.bot.booking_console import COMMANDS as COUNSELOR_COMMANDS
from hotline.bot.booking_console import BookingConsole
from hotline.bot.survey import PREFIX as SURVEY_PREFIX
from hotline.bot.survey import MailAnswers, Surveys
from hotline.desk import Desk, Outgoing
from hotline.domain import Channel, Outcome
from hotline.flows.vocabulary import Event
from hotline.ports import Recipient
from hotline.storage.models import Case, Conversation
from hotline.timer_kinds import TimerKind


class Aftercare:
    def __init__(self, desk: Desk, mail: MailAnswers | None = None) -> None:
        self.desk = desk
        self.surveys = Surveys(desk, mail)
        self.bookings = Bookings(desk, self.surveys)
        self.console = BookingConsole(self.bookings)

    # -- the chat fronts' hooks (Telegram, LINE) ------------------------------------------------------
    async def employee_command(self, who: Asker, name: str, args: str) -> bool:
        if name == "book":
            await self.bookings.book(who, args)
        elif name == "mybooking":
            await self.bookings.mine(who)
        elif name == "survey":
            await self.surveys.by_code(who.pseudonym, who.chat, args)
        else:
            return False
        return True

    async def employee_button(self, who: Asker, data: str) -> bool:
        if data.startswith(BOOKING_PREFIX):
            await self.bookings.employee_button(who, data)
        elif data.startswith(SURVEY_PREFIX):
            await self.surveys.pressed(who.pseudonym, who.chat, data)
        else:
            return False
        return True

    async def counselor_command(self, who: int, name: str, args: str) -> bool:
        if name not in COUNSELOR_COMMANDS:
            return False
        await self.console.command(who, name, args)
        return True

    async def counselor_button(self, who: int, data: str) -> str | None:
        if not data.startswith(BOOKING_PREFIX):
            return None
        return await self.bookings.counselor_button(who, data)

    # -- the console's and the runner's hooks ----------------------------------------------------------
    async def booking_code(self, case_id: int) -> str:
        """The code an e-mail referral (``/refer CODE face``) puts in its mail."""
        return await self.bookings.referral_code(case_id)

    async def case_ended(self, case_id: int, outcome: Outcome | None) -> None:
        """A served case ended (the counselor's /end, or the employee left a conversation)."""
        async with self.desk.store.unit() as s:
            case = await s.get(Case, case_id)
            channel = case.channel if case is not None else None
            counselor_id = case.counselor_id if case is not None else None
        if channel is None:
            return
        if outcome is Outcome.FACE_TO_FACE and channel != Channel.EMAIL.value:  # a chat channel
            await self.bookings.refer_chat(case_id)
        elif outcome is Outcome.FACE_TO_FACE and self.surveys.mail is not None and counselor_id is not None:
            await self.bookings.refer_mail(case_id, self.surveys.mail, counselor_id)
        await self.surveys.invite_case(case_id)

    def timer_handlers(
        self,
    ) -> dict[TimerKind, Callable[[int | None, Mapping[str, object]], Awaitable[None]]]:
        """Durable timers of issue 7: the booking reminder the day before."""

        async def remind(_case_id: int | None, payload: Mapping[str, object]) -> None:
            booking_id = payload.get("booking_id")
            if isinstance(booking_id, int):
                await self.bookings.reminder(booking_id)

        return {TimerKind.BOOKING_REMINDER: remind}

    async def aside(
        self, s: AsyncSession, conv: Conversation, event: Event, chat_id: int | Recipient
    ) -> list[Outgoing] | None:
        return await self.surveys.aside(s, conv, event, chat_id)
