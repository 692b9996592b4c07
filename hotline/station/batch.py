"""One batch of received mail: what the batch knows, the rows it makes, and the small rules of keys.

A :class:`Batch` reads up front what its mails need (known senders, thread keys, cases, open reply
windows), links new rows to new cases by object, and inserts them in bulk once the cases have their ids.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from hotline.domain import Screening
from hotline.mailbox.parse import ParsedMail
from hotline.settings import EmailSection
from hotline.storage.models import Base, Case, Employee, Mail, Message, ThreadKey, Timer
from hotline.storage.models import Outbox as OutboxRow

MAIL_TIMERS = ("email.remind", "email.escalate")


@dataclass
class After:
    offers: list[Case] = field(default_factory=list)
    alerts: list[tuple[Case, Screening, str, datetime]] = field(default_factory=list)
    relays: list[tuple[int, str, str]] = field(default_factory=list)
    flagged: list[Case] = field(default_factory=list)
    stored: int = 0
    unreadable: int = 0


@dataclass
class Batch:
    """What one batch knows: rows read up front and rows made so far, by key."""

    s: AsyncSession
    now: datetime
    key: Callable[[str], str]  # a Message-ID as stored (`stored_key`)
    employees: dict[str, Employee] = field(default_factory=dict)  # by pseudonym
    threads: dict[str, Case] = field(default_factory=dict)  # by Message-ID as stored
    codes: dict[str, Case] = field(default_factory=dict)  # by case code
    awaiting: set[int] = field(default_factory=set)  # ids of cases with an open reply window
    new_codes: list[str] = field(default_factory=list)
    closed_windows: set[int] = field(default_factory=set)  # stored cases whose old timers to cancel
    # Rows inserted in bulk once the new cases have ids: (model, values, the case they belong to).
    rows: list[tuple[type[Base], dict[str, Any], Case | None]] = field(default_factory=list)
    forgets: list[tuple[Employee, str, ParsedMail]] = field(default_factory=list)  # confirmed, with address
    latest_case: dict[int, Case] = field(default_factory=dict)  # by employee id, for requests to forget
    made: list[Employee | Case] = field(default_factory=list)  # new people and cases, in order

    def link_keys(self, case: Case, keys: Iterable[str | None]) -> None:
        """Message-IDs that belong to ``case`` from now on (theirs and ours): later mails thread to it."""
        for message_id in keys:
            key = self.key(message_id) if message_id else None
            if key and key not in self.threads:
                self.threads[key] = case
                self.insert(ThreadKey, {"message_id": key}, case)

    def schedule(self, case: Case, kind: str, due: datetime) -> None:
        self.insert(Timer, {"kind": kind, "due_at": due, "payload": {}, "created_at": self.now}, case)

    def insert(self, model: type[Base], values: dict[str, Any], case: Case | None) -> dict[str, Any]:
        self.rows.append((model, values, case))
        return values

    def make(self, obj: Employee | Case) -> None:
        """A new person or case (not yet in the session): inserted first when the batch is written."""
        self.made.append(obj)

    async def flush(self) -> None:
        """Insert the new people and cases first (for their ids), write the changes to stored ones, then
        every other row, a statement a table."""
        people = [obj for obj in self.made if isinstance(obj, Employee)]
        cases = [obj for obj in self.made if isinstance(obj, Case)]
        await _insert_returning_ids(self.s, people, Employee, "pseudonym")
        for new in cases:
            new.employee_id = new.employee.id if new.employee is not None else None
        await _insert_returning_ids(self.s, cases, Case, "code")
        await self.s.flush()
        tables: dict[type[Base], list[dict[str, Any]]] = {}
        for model, values, case in self.rows:
            if case is not None:
                values["case_id"] = case.id
            tables.setdefault(model, []).append(values)
        for model in (Mail, Message, ThreadKey, Timer, OutboxRow):
            if model in tables:
                await self.s.execute(insert(cast(Table, model.__table__)), tables[model])


async def _insert_returning_ids(
    s: AsyncSession, objs: Sequence[Base], model: type[Base], unique: str
) -> None:
    """Insert new objects in one statement and keep them in the session as stored rows.

    The ORM would insert them one at a time on SQLite (it cannot match the rows RETURNING gives back to
    the objects there), a round trip each; here a unique column matches them."""
    if not objs:
        return
    table = cast(Table, model.__table__)
    values = [_column_values(obj, table) for obj in objs]
    returned = await s.execute(insert(table).returning(table.c.id, table.c[unique]), values)
    ids = {key: row_id for row_id, key in returned}
    for obj in objs:
        obj.id = ids[getattr(obj, unique)]  # type: ignore[attr-defined]
        make_transient_to_detached(obj)
        s.add(obj)


def _column_values(obj: Base, table: Table) -> dict[str, Any]:
    values = {}
    for column in table.columns:
        if column.primary_key:
            continue
        value = getattr(obj, column.key, None)
        if value is None and isinstance(column.default, ScalarElementColumnDefault):
            value = column.default.arg
        values[column.key] = value
    return values


def same_person(case: Case, employee: Employee | None) -> bool:
    if employee is None:
        return False
    if case.id is None:  # made in this batch: compare the objects (never lazy-load a stored case's)
        return case.employee is employee
    return employee.id is not None and case.employee_id == employee.id


_PREFIXES = re.compile(r"^(?:\s*(?:re|fw|fwd|aw|回覆|回复|轉寄|转发)\s*[:：])+", re.IGNORECASE)
_CODE_OR_PUNCTUATION = re.compile(r"\[?HL-[2-9A-HJKMNP-Z]{6}\]?|[\s\W_]+", re.IGNORECASE)


def bare(line: str) -> str:
    """A subject or a line reduced to its words: no Re:/Fwd:, case code, spaces or punctuation."""
    return _CODE_OR_PUNCTUATION.sub("", _PREFIXES.sub("", line)).casefold()


def forget_kind(mail: ParsedMail, email: EmailSection) -> str:
    """Whether the mail asks to be forgotten ("request") or confirms it ("confirm"): only when the
    subject, or a whole line of the new text, is the keyword ("please don't forget me" is not)."""
    lines = {bare(mail.subject), *(bare(line) for line in mail.new_text.splitlines()[:3])}
    if bare(email.forget_confirm_keyword) in lines:
        return "confirm"
    if any(bare(keyword) in lines for keyword in email.forget_keywords):
        return "request"
    return ""


def keyed(mail: ParsedMail, key: Callable[[str], str]) -> ParsedMail:
    """The mail with its dedup key as stored."""
    return dataclasses.replace(mail, dedup_key=key(mail.dedup_key))


def inbound_row(
    mail: ParsedMail,
    *,
    mailbox: str,
    uidvalidity: int,
    uid: int,
    received_at: datetime,
    raw_enc: bytes | None,
    now: datetime,
    needs_human: bool = False,
    malformed: bool | None = None,
) -> dict[str, Any]:
    """The ``mails`` row of one received mail (its case is linked when the batch is written)."""
    return {
        "direction": "inbound",
        "dedup_key": mail.dedup_key,
        "mailbox": mailbox,
        "uidvalidity": uidvalidity,
        "uid": uid,
        "received_at": received_at,
        "raw_enc": raw_enc,
        "auto_reply": mail.is_auto_reply,
        "malformed": mail.malformed if malformed is None else malformed,
        "needs_human": needs_human,
        "attachments": len(mail.attachments),
        "created_at": now,
        "case_id": None,
    }
