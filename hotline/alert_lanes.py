"""Crisis messages to one counselor's chat, grouped while they wait for the chat's turn (issue 14).

Telegram lets a bot send about one message a second into one chat: a burst of 200 crises with one
counselor on duty would reach them over 200 seconds, one alert a second. Instead each chat has a lane in
this process: the first message of a burst goes at once; those that come while it is being sent (or
while the lane waits for the chat's next turn under the flood limits, ``hotline/pacing.py``) are merged
into ONE message when the turn comes: a header, one line per case (most imminent first, then newest) and
one acknowledge button per case. A group longer than Telegram takes (4,096 characters, 100 buttons) is
split into several messages, each with its own buttons.

Nothing else changes for a case: each keeps its own alert row, backup timer and escalation, and its
button acknowledges it alone. A grouped message is recorded as where each of its cases' alerts was shown,
with a reference marked as grouped (:func:`is_grouped`): taking one of its cases does not rewrite the
message the other cases share.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hotline.errors import ChannelError
from hotline.pacing import urgent
from hotline.ports import ButtonRow, ChatGateway

log = logging.getLogger(__name__)

GROUP_CHARS = 4000  # Telegram takes 4,096 characters a message
GROUP_BUTTONS = 100  # and 100 buttons
BUTTONS_PER_ROW = 2
GROUPED = "+"  # ends the reference of a grouped message (``offers.card_ref``)

Message = tuple[str, tuple[ButtonRow, ...]]


@dataclass(frozen=True, slots=True)
class LaneItem:
    """One case's crisis message to one chat: the message it is when it goes alone, and its line and
    button when it goes in a group. Items of one ``kind`` are grouped together (an alert and a
    supervisor's escalation never share a message)."""

    kind: str
    text: str
    buttons: tuple[ButtonRow, ...]
    line: str
    button: tuple[str, str] | None
    order: tuple[int, float]  # smallest first: the most imminent, then the newest


@dataclass
class _Lane:
    waiting: list[tuple[LaneItem, asyncio.Future[str | None]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


def is_grouped(ref: str) -> bool:
    return ref.endswith(GROUPED)


def compose(items: Sequence[LaneItem], header: Callable[[str, int], str]) -> list[tuple[Message, list[int]]]:
    """The messages that carry ``items`` (indexes into it): one alone goes as itself; several of one
    kind go as a header and a line each, split within Telegram's limits."""
    kinds: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        kinds.setdefault(item.kind, []).append(i)
    out: list[tuple[Message, list[int]]] = []
    for kind, indexes in kinds.items():
        if len(indexes) == 1:
            item = items[indexes[0]]
            out.append(((item.text, item.buttons), indexes))
            continue
        indexes.sort(key=lambda i: items[i].order)
        parts: list[list[int]] = [[]]
        size = 0
        for i in indexes:
            line = len(items[i].line) + 1
            if parts[-1] and (size + line > GROUP_CHARS - 200 or len(parts[-1]) >= GROUP_BUTTONS):
                parts.append([])
                size = 0
            parts[-1].append(i)
            size += line
        for part in parts:
            text = "\n".join([header(kind, len(part)), *(items[i].line[: GROUP_CHARS - 200] for i in part)])
            buttons = [b for i in part if (b := items[i].button) is not None]
            rows = tuple(
                tuple(buttons[r : r + BUTTONS_PER_ROW]) for r in range(0, len(buttons), BUTTONS_PER_ROW)
            )
            out.append(((text, rows), part))
    return out


class AlertLanes:
    """The chats' lanes of this process; see the module docstring."""

    def __init__(self, gateway: ChatGateway, header: Callable[[str, int], str]) -> None:
        self.gateway = gateway
        self.header = header  # a grouped message's first line: (kind, cases in it)
        self._lanes: dict[int, _Lane] = {}
        self.grouped = 0  # messages that carried more than one case (for metrics and tests)

    async def send(self, chat_id: int, item: LaneItem) -> str | None:
        """Send ``item`` to ``chat_id`` alone or with the others waiting for the chat's turn; return the
        reference of the message that carried it (None: not delivered; the failure is logged)."""
        lane = self._lanes.setdefault(chat_id, _Lane())
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        lane.waiting.append((item, future))
        if lane.task is None:
            lane.task = asyncio.get_running_loop().create_task(self._drain(chat_id, lane))
        return await asyncio.shield(future)  # a caller that gives up leaves its item to be sent

    def busy(self, chat_id: int) -> bool:
        """Something is being sent to ``chat_id`` through its lane, or waits for its turn there."""
        return chat_id in self._lanes

    async def wait(self) -> None:
        """Until every item handed over so far has been sent (before the process stops)."""
        for lane in list(self._lanes.values()):
            while lane.task is not None:
                await asyncio.shield(lane.task)

    async def _drain(self, chat_id: int, lane: _Lane) -> None:
        try:
            while lane.waiting:
                taken: list[tuple[LaneItem, asyncio.Future[str | None]]] = []

                def gather() -> list[tuple[Message, list[int]]]:
                    nonlocal taken
                    taken, lane.waiting = lane.waiting, []  # everything that waited for this turn
                    return compose([item for item, _ in taken], self.header)

                refs: list[str | None] = []
                plan: list[tuple[Message, list[int]]] = []
                try:
                    with urgent(alert=True):  # before any ordinary message and any crisis reply
                        plan, refs = await self._send(chat_id, gather)
                except Exception as exc:  # the callers must learn of it; the lane goes on
                    if not taken:  # failed before its turn came: what waited fails with it
                        taken, lane.waiting = lane.waiting, []
                    if not isinstance(exc, ChannelError):
                        for _, future in taken:
                            if not future.done():
                                future.set_exception(exc)
                    log.warning("send failed: %s", exc)
                for (_, indexes), ref in zip(plan, refs, strict=False):
                    grouped = len(indexes) > 1
                    self.grouped += grouped
                    for i in indexes:
                        future = taken[i][1]
                        if not future.done():
                            future.set_result(ref + GROUPED if ref is not None and grouped else ref)
                for _, future in taken:
                    if not future.done():
                        future.set_result(None)
        finally:
            lane.task = None
            if not lane.waiting and self._lanes.get(chat_id) is lane:
                del self._lanes[chat_id]

    async def _send(
        self, chat_id: int, gather: Callable[[], list[tuple[Message, list[int]]]]
    ) -> tuple[list[tuple[Message, list[int]]], list[str | None]]:
        plan: list[tuple[Message, list[int]]] = []

        def messages() -> list[Message]:
            plan.extend(gather())
            return [message for message, _ in plan]

        refs = await self.gateway.send_in_turn(chat_id, messages)
        return plan, refs


__all__ = ["AlertLanes", "LaneItem", "compose", "is_grouped"]
