"""LINE webhook events -> the same flows as Telegram (issue 15).

One-to-one events of a LINE user go to the LINE runner and the shared employee input: a text (a leading
"/" is a command, as on Telegram), a postback (a quick-reply choice), follow (the consent notice, as
``/start``), unfollow (the user blocked the account: recorded, nothing is sent until they follow again),
anything else a user sends (sticker, image, ...) the Unsupported path. An event from a group or a room
gets one polite line that the service is one-to-one (on joining, and once per group per process after).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from linebot.v3.webhooks import (
    Event,
    FollowEvent,
    GroupSource,
    JoinEvent,
    MessageEvent,
    PostbackEvent,
    RoomSource,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)

from hotline.bot.employee_input import EmployeeInput
from hotline.bot.runner import EmployeeRunner
from hotline.desk import Desk, Outgoing
from hotline.domain import CaseStatus
from hotline.flows.vocabulary import Command, Unsupported
from hotline.line.send import LineEmployees
from hotline.storage import line_repo, repo

if TYPE_CHECKING:
    from hotline.bot.aftercare import Aftercare

log = logging.getLogger(__name__)

ONE_TO_ONE = "line.one_to_one"


class LineFront:
    def __init__(
        self, desk: Desk, runner: EmployeeRunner, employees: LineEmployees, aftercare: Aftercare | None = None
    ) -> None:
        self.desk = desk
        self.runner = runner
        self.employees = employees
        self.input = EmployeeInput(desk, runner, aftercare)
        self._groups_told: set[str] = set()

    async def process(self, event: Event) -> None:
        """Carry out one stored event (called in order per user by the inbox)."""
        source = event.source
        if isinstance(source, GroupSource | RoomSource):
            await self._not_one_to_one(event, source)
            return
        if not isinstance(source, UserSource) or not source.user_id:
            log.info("ignored a LINE %s event without a user", event.type)
            return
        if getattr(event, "mode", None) is not None and str(event.mode.value) == "standby":
            return  # another module of the channel is answering
        user_id = source.user_id
        token = getattr(event, "reply_token", None)
        self.employees.offer_reply_token(user_id, token, event.timestamp / 1000)
        try:
            await self._from_user(event, user_id)
        finally:
            self.employees.drop_reply_token(user_id)

    async def _from_user(self, event: Event, user_id: str) -> None:
        runner = self.runner
        if isinstance(event, FollowEvent):
            await self._set_blocked(user_id, False)
            await runner.handle(user_id, user_id, Command("start"))
        elif isinstance(event, UnfollowEvent):
            await self._set_blocked(user_id, True)
        elif isinstance(event, MessageEvent):
            if isinstance(event.message, TextMessageContent):
                await self.input.text(user_id, user_id, event.message.text)
            else:
                await runner.handle(user_id, user_id, Unsupported(str(event.message.type)))
        elif isinstance(event, PostbackEvent):
            await self.input.pressed(user_id, user_id, event.postback.data)
        else:
            log.info("ignored a LINE %s event", event.type)

    async def _set_blocked(self, user_id: str, on: bool) -> None:
        """Recorded; while blocked nothing is sent to them, and the counselor of a case in progress is told
        (their words cannot reach the employee until the employee follows the account again)."""
        pseudonym = self.runner.pseudonym(user_id)
        tell: list[Outgoing] = []
        async with self.desk.store.unit() as s:
            await line_repo.set_blocked(s, pseudonym, on, self.desk.now())
            thread = await repo.load_thread(s, pseudonym, lock=False)
            case = thread.case
            if case is not None and case.counselor_id is not None and case.status == CaseStatus.ACTIVE.value:
                key = "line.counselor.blocked" if on else "line.counselor.unblocked"
                tell.append(Outgoing(case.counselor_id, self.desk.render(key, code=case.code)))
        if on:
            log.info("a LINE user blocked the account; nothing is sent to them until they follow again")
        await self.desk.deliver(tell)

    async def _not_one_to_one(self, event: Event, source: GroupSource | RoomSource) -> None:
        where = source.group_id if isinstance(source, GroupSource) else source.room_id
        token = getattr(event, "reply_token", None)
        first = where not in self._groups_told
        if token and (isinstance(event, JoinEvent) or (isinstance(event, MessageEvent) and first)):
            self._groups_told.add(where)
            await self.employees.reply_only(token, self.desk.texts.get(ONE_TO_ONE))
