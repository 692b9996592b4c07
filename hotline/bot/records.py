"""What counselors may read and reveal, audited: ``/view CODE`` (a case's record) and ``/reveal CODE
reason`` (a supervisor's safety-ground access to contact data).

A supervisor may read every case; a counselor the cases assigned or offered to them. Each read, each
refusal and each reveal is recorded in the append-only audit trail before anything is shown.
"""

from __future__ import annotations

import re

from hotline.desk import Desk, Outgoing
from hotline.domain import CASE_CODE_PATTERN, Channel, Risk
from hotline.privacy.audit import Actor, AuditAction, Refused, may_read_case, record, reveal_identity
from hotline.storage import repo

CODE_RE = re.compile(CASE_CODE_PATTERN, re.IGNORECASE)
MAX_CHARS = 3500  # lines gathered per message; a longer line is split by the gateway, never cut
LINE_KEYS = {"inbound": "counselor.view.in", "outbound": "counselor.view.out", "note": "counselor.view.note"}


class CaseRecords:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def _say(self, who: int, key: str, **params: object) -> None:
        await self.desk.deliver([Outgoing(who, self.desk.render(key, **params))])

    async def view(self, who: int, args: str, reply_to_text: str | None) -> None:
        match = CODE_RE.search(args) or CODE_RE.search(reply_to_text or "")
        if match is None:
            await self._say(who, "counselor.view.usage")
            return
        code = match.group(0).upper()
        desk = self.desk
        async with desk.store.unit() as s:
            case = await repo.case_by_code(s, code)
            allowed = case is not None and await may_read_case(
                s, counselor_id=who, case=case, now=desk.now(), what="record"
            )
            lines: list[str] = []
            if case is not None and allowed:
                header = desk.render(
                    "counselor.view.header",
                    code=case.code,
                    channel=desk.texts.get(f"channel.{Channel(case.channel).value}"),
                    status=desk.texts.get(f"status.{case.status}"),
                    area=desk.area_name(case.category),
                    risk=Risk(case.risk),
                    opened=desk.texts.format_datetime(case.opened_at),
                )
                lines.append(header)
                mark = desk.render("counselor.mail.other_sender")
                for direction, text in await repo.messages_of(s, desk.store, case.id, mark=mark):
                    lines.append(desk.render(LINE_KEYS.get(direction, "counselor.view.in"), text=text))
        if case is None or not allowed:
            await self._say(who, "counselor.unknown_case", code=code)
            return
        await desk.deliver([Outgoing(who, chunk) for chunk in _chunks(lines)])

    async def reveal(self, who: int, args: str, reply_to_text: str | None) -> None:
        match = CODE_RE.match(args.strip())
        reason = args.strip()[match.end() :].strip() if match else ""
        if match is None:
            await self._say(who, "counselor.reveal.usage")
            return
        code = match.group(0).upper()
        desk = self.desk
        async with desk.store.unit() as s:
            result = await reveal_identity(
                s, desk.store.vault, requester_id=who, case_code=code, reason=reason or None, now=desk.now()
            )
        if isinstance(result, Refused):
            await self._say(who, "counselor.reveal.refused", code=code)
            return
        key = f"counselor.reveal.{result.channel}"
        await self._say(who, key, code=code, contact=result.contact)

    async def refused(self, who: int, role: str, command: str) -> None:
        """A command outside the caller's role: refused and recorded."""
        async with self.desk.store.unit() as s:
            await record(
                s,
                actor=Actor.staff(who, role),
                action=AuditAction.ACCESS_DENIED,
                detail={"wanted": command, "why": "outside the role"},
                now=self.desk.now(),
            )
        await self._say(who, "counselor.not_allowed")


def _chunks(lines: list[str]) -> list[str]:
    chunks, current = [], ""
    for line in lines:
        if current and len(current) + 1 + len(line) > MAX_CHARS:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks
