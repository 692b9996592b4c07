"""What an employee writes or presses in a chat, routed the same way on every chat channel.

The Telegram front and the LINE front turn their channel's updates into calls here: a text that starts
with "/" is a command (a console command is refused and recorded; ``/book``, ``/mybooking`` and
``/survey`` go to aftercare; the rest to the intake flow), its arguments are screened like any text;
any other text is screened and goes to the flow; a pressed button goes to aftercare or the flow.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hotline.bot import inbox
from hotline.bot.booking import Asker
from hotline.bot.booking_console import COMMANDS as STAFF_COMMANDS
from hotline.bot.runner import EmployeeRunner
from hotline.desk import Desk, Outgoing
from hotline.flows.vocabulary import Command, Pressed, Said
from hotline.line import ticket as line_ticket

if TYPE_CHECKING:
    from hotline.bot.aftercare import Aftercare

log = logging.getLogger(__name__)

CONSOLE_COMMANDS = frozenset(
    {"onduty", "offduty", "queue", "case", "note", "transfer", "end", "reply", "refer", "view", "reveal"}
)
CONSOLE_BUTTONS = ("claim:", "ack:", "end:")
ARGUMENT_COMMANDS = frozenset({"book", "survey", "start"})  # their arguments are codes, not words
EMPLOYEE_COMMANDS = ("start", "help", "cancel", "mydata", "forget")


class EmployeeInput:
    """Routes one employee's text or button press on the channel of ``runner``."""

    def __init__(self, desk: Desk, runner: EmployeeRunner, aftercare: Aftercare | None = None) -> None:
        self.desk = desk
        self.runner = runner
        self.aftercare = aftercare  # issue 7: booking and survey

    def asker(self, user_id: int | str, chat_id: int | str) -> Asker:
        return Asker(self.runner.pseudonym(user_id), self.runner.recipient(chat_id))

    async def text(self, user_id: int | str, chat_id: int | str, text: str) -> None:
        if text.startswith("/"):
            await self.command(user_id, chat_id, text)
        else:
            await self.runner.said(user_id, chat_id, text)

    async def command(self, user_id: int | str, chat_id: int | str, text: str) -> None:
        runner = self.runner
        head, _, args = text[1:].partition(" ")
        name = head.split("@", 1)[0].lower()
        refused = name in CONSOLE_COMMANDS or name in STAFF_COMMANDS
        more = bool(args.strip())
        with inbox.more_to_come(more), line_ticket.more_to_come(more):  # the words after it settle it
            refused = await self._command(user_id, chat_id, name, args, refused)
        if args.strip():
            screening = await runner.screen(user_id, args)
            if screening.is_crisis:  # in every state, refused or not: the crisis path
                await runner.handle(user_id, chat_id, Said(args, screening))
            elif not refused and name not in ARGUMENT_COMMANDS:  # "/help 我還在" in a case: words count
                await runner.said_in_case(user_id, chat_id, args, screening)
            # A refused command is answered and dropped whole: its words reach no counselor.

    async def _command(
        self, user_id: int | str, chat_id: int | str, name: str, args: str, refused: bool
    ) -> bool:
        """The command itself; True when it was refused or unknown (its words then reach nobody)."""
        runner = self.runner
        if refused:
            to = runner.recipient(chat_id)
            await self.desk.deliver([Outgoing(to, self.desk.texts.get("counselor.not_roster"))])
            log.warning("a console command was refused to someone not on the roster")
            await self.desk.audit_refusal(name)
        elif self.aftercare and await self.aftercare.employee_command(
            self.asker(user_id, chat_id), name, args
        ):
            pass  # issue 7: /book, /mybooking, /survey (their arguments are screened below)
        else:
            refused = name not in EMPLOYEE_COMMANDS  # answered "unknown command"
            await runner.handle(user_id, chat_id, Command(name))
        return refused

    async def pressed(self, user_id: int | str, chat_id: int | str, data: str) -> str:
        """A button an employee pressed; returns the short answer to show (Telegram), or ""."""
        if self.aftercare is not None and await self.aftercare.employee_button(
            self.asker(user_id, chat_id), data
        ):
            return ""
        if data.startswith(CONSOLE_BUTTONS):
            return self.desk.texts.get("employee.not_for_you")
        await self.runner.handle(user_id, chat_id, Pressed(data))
        return ""
