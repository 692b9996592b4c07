"""State of the emulated LINE channel: reply tokens, chats and what they received, faults, the record of
calls and events, and waiters on that record (never polling).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .line_messages import check_messages
from .line_model import (
    FAILED_TO_SEND,
    INVALID_REPLY_TOKEN,
    JSON,
    MONTHLY_LIMIT,
    NOT_FOUND,
    RETRY_KEY_ACCEPTED,
    LineApiError,
    LineCall,
    LineEvent,
    LineGroup,
    LineUser,
    Received,
    is_chat_id,
)

CallPredicate = Callable[[LineCall], bool]


@dataclass(slots=True)
class ReplyToken:
    chat_id: str
    issued: float  # the emulator clock when the event was made
    used: bool = False


@dataclass(frozen=True, slots=True)
class Fault:
    status: int
    message: str
    details: tuple[JSON, ...] = ()
    to: str | None = None  # only calls to this chat

    def error(self) -> LineApiError:
        return LineApiError(self.status, self.message, list(self.details))


@dataclass(slots=True)
class _Waiter:
    predicate: CallPredicate
    count: int
    future: asyncio.Future[list[LineCall]]
    found: list[LineCall] = field(default_factory=list)

    def offer(self, call: LineCall) -> None:
        if self.future.done() or not self.predicate(call):
            return
        self.found.append(call)
        if len(self.found) >= self.count:
            self.future.set_result(self.found)


class ChannelState:
    """One LINE channel (one official account) as the emulator sees it."""

    def __init__(self, clock: Callable[[], float], reply_token_lifetime: float) -> None:
        self.clock = clock
        self.reply_token_lifetime = reply_token_lifetime
        self.users: dict[str, LineUser] = {}
        self.groups: dict[str, LineGroup] = {}
        self.followers: set[str] = set()
        self.blocked: set[str] = set()
        self.reply_tokens: dict[str, ReplyToken] = {}
        self.received: dict[str, list[Received]] = {}
        self.retry_keys: dict[str, JSON] = {}
        self.faults: dict[str, deque[Fault]] = {}
        self.push_quota: int | None = None
        self.calls: list[LineCall] = []
        self.events: list[LineEvent] = []
        self._waiters: list[_Waiter] = []
        self._next_message_id = 600_000_000_000_000

    # -- record and waiting ----------------------------------------------------------------------
    def record(self, call: LineCall) -> None:
        self.calls.append(call)
        for waiter in list(self._waiters):
            waiter.offer(call)

    async def wait(self, predicate: CallPredicate, count: int, since: int, timeout: float) -> list[LineCall]:
        waiter = _Waiter(predicate, count, asyncio.get_running_loop().create_future())
        for call in self.calls[since:]:
            waiter.offer(call)
        if waiter.future.done():
            return waiter.future.result()
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            recent = "\n".join(f"  {c.summary()}" for c in self.calls[since:][-12:]) or "  (none)"
            raise TimeoutError(
                f"no{' further' if waiter.found else ''} matching call within {timeout:g} s "
                f"(found {len(waiter.found)} of {count}, from call #{since}); calls since then:\n{recent}"
            ) from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    # -- faults ----------------------------------------------------------------------------------
    def add_fault(self, endpoint: str, fault: Fault, times: int) -> None:
        self.faults.setdefault(endpoint, deque()).extend([fault] * times)

    def take_fault(self, endpoint: str, to: str | None) -> Fault | None:
        for key in (endpoint, "*"):
            queue = self.faults.get(key)
            if not queue:
                continue
            for fault in queue:
                if fault.to is None or fault.to == to:
                    queue.remove(fault)
                    return fault
        return None

    # -- reply tokens ----------------------------------------------------------------------------
    def issue_reply_token(self, chat_id: str) -> str:
        token = os.urandom(16).hex()
        self.reply_tokens[token] = ReplyToken(chat_id, self.clock())
        return token

    def reply_target(self, token: str) -> str | None:
        """The chat a still-valid reply token answers, or None (then the reply is refused)."""
        found = self.reply_tokens.get(token)
        if found is None or found.used or self.clock() - found.issued > self.reply_token_lifetime:
            return None
        return found.chat_id

    # -- operations ------------------------------------------------------------------------------
    def _deliver(self, chat_id: str, messages: list[JSON], via: str, index: int) -> JSON:
        sent: list[JSON] = []
        inbox = self.received.setdefault(chat_id, [])
        for message in messages:
            self._next_message_id += 1
            message_id = str(self._next_message_id)
            sent.append({"id": message_id, "quoteToken": os.urandom(12).hex()})
            if chat_id not in self.blocked:  # LINE accepts sends to a blocking user but never shows them
                inbox.append(Received(chat_id, message, via, index, message_id))
        return {"sentMessages": sent}

    def _known_chat(self, chat_id: str) -> bool:
        return chat_id in self.users or chat_id in self.groups

    def reply(self, body: JSON, index: int) -> tuple[JSON, str]:
        token = body.get("replyToken")
        details = [] if isinstance(token, str) and token else [
            {"message": "must be specified", "property": "replyToken"}
        ]  # fmt: skip
        details += check_messages(body.get("messages"))
        if details:
            raise LineApiError.invalid_body(details)
        assert isinstance(token, str)
        chat_id = self.reply_target(token)
        if chat_id is None:
            raise LineApiError(400, INVALID_REPLY_TOKEN)
        self.reply_tokens[token].used = True
        return self._deliver(chat_id, body["messages"], "reply", index), chat_id

    def push(self, body: JSON, retry_key: str | None, index: int) -> JSON:
        to = body.get("to")
        if not isinstance(to, str) or not to:
            raise LineApiError.invalid_body([{"message": "must be specified", "property": "to"}])
        details = check_messages(body.get("messages"))
        if details:
            raise LineApiError.invalid_body(details)
        if not is_chat_id(to):
            raise LineApiError(400, "The property, 'to', in the request body is invalid (line: -, column: -)")
        if retry_key is not None and retry_key in self.retry_keys:
            raise LineApiError(409, RETRY_KEY_ACCEPTED, sent=self.retry_keys[retry_key]["sentMessages"])
        if not self._known_chat(to):
            raise LineApiError(400, FAILED_TO_SEND)
        if self.push_quota is not None:
            if self.push_quota < len(body["messages"]):
                raise LineApiError(429, MONTHLY_LIMIT)
            self.push_quota -= len(body["messages"])
        result = self._deliver(to, body["messages"], "push", index)
        if retry_key is not None:
            self.retry_keys[retry_key] = result
        return result

    def profile(self, user_id: str) -> JSON:
        user = self.users.get(user_id)
        if user is None or user_id not in self.followers:
            raise LineApiError(404, NOT_FOUND)
        return user.profile()

    def group_member_profile(self, group_id: str, user_id: str) -> JSON:
        group = self.groups.get(group_id)
        member = next((m for m in group.members if m.user_id == user_id), None) if group else None
        if member is None:
            raise LineApiError(404, NOT_FOUND)
        return {"userId": member.user_id, "displayName": member.display_name}
