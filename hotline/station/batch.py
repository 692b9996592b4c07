"""One batch of received mail: what the batch knows, the rows it makes, and the small rules of keys.

A :class:`Batch` reads up front what its mails need (known senders, thread keys, cases, open reply
windows), links new rows to new cases by object, and inserts them in bulk once the cases have their ids.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from hotline.alerts import PreparedAlert
from hotline.domain import Screening
from hotline.mailbox.parse import ParsedMail
from hotline.settings import EmailSection
from hotline.station.erasure_code import codes_in, hash_code, new_code, without_codes
from hotline.station.sending import Job
from hotline.storage import auto_mails as auto_mail_rows
from hotline.storage.models import Base, Case, Employee, ForgetToken, Mail, Message, ThreadKey, Timer
from hotline.storage.models import Outbox as OutboxRow
from hotline.timer_kinds import TimerKind

MAIL_TIMERS = (TimerKind.EMAIL_REMIND, TimerKind.EMAIL_ESCALATE)


@dataclass
class After:
    offers: list[Case] = field(default_factory=list)
    alerts: list[tuple[Case, Screening, str, datetime]] = field(default_factory=list)
    prepared: list[PreparedAlert] = field(default_factory=list)  # the alerts, recorded in the batch
    relays: list[tuple[int, str, str]] = field(default_factory=list)
    flagged: list[tuple[Case | None, str]] = field(default_factory=list)  # (case, FlagForHuman reason)
    stored: int = 0
    unreadable: int = 0
    handed: list[Job] = field(default_factory=list)  # outbox rows stored claimed, for the sender


@dataclass
class Batch:
    """What one batch knows: rows read up front and rows made so far, by key."""

    s: AsyncSession
    now: datetime
    key: Callable[[str], str]  # one of our own Message-IDs as stored (`stored_key`)
    their_key: Callable[[str, str], str]  # a sender's Message-ID as stored (`sender_key`)
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
    # One-time erasure codes (station/erasure_code.py): stored ones the batch's confirmations carry (by
    # hash: whose, until when), the ones this batch spends, and the ones it issues (person, hash, expiry).
    codes_held: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    codes_spent: set[str] = field(default_factory=set)
    codes_issued: list[tuple[Employee, str, datetime]] = field(default_factory=list)
    made: list[Employee | Case] = field(default_factory=list)  # new people and cases, in order
    # Outbox rows are stored claimed until then, to be handed to the sender after the commit (None: due).
    lease_until: datetime | None = None
    handed: list[Job] = field(default_factory=list)  # those rows, once inserted
    # Automatic mails by the address's pseudonym: how many in the last day (this batch's included), and
    # the ones this batch sends (recorded when it is written).
    auto_mails: dict[str, int] = field(default_factory=dict)
    auto_sent: list[str] = field(default_factory=list)

    def auto_mail_sent(self, pseudonym: str, count: int = 1) -> None:
        self.auto_mails[pseudonym] = self.auto_mails.get(pseudonym, 0) + count
        self.auto_sent += [pseudonym] * count

    def link_ours(self, case: Case, ids: Iterable[str | None]) -> None:
        """Our own Message-IDs that belong to ``case``: a mail answering one of them joins it."""
        self._link(case, (self.key(i) for i in ids if i))

    def link_theirs(self, case: Case, sender: str, ids: Iterable[str | None]) -> None:
        """A sender's Message-IDs that belong to ``case``: that sender's later mail referring to one joins."""
        self._link(case, (self.their_key(sender, i) for i in ids if i))

    def _link(self, case: Case, keys: Iterable[str]) -> None:
        for key in keys:
            if key not in self.threads:  # a key already held (read up front, or made) stays where it is
                self.threads[key] = case
                self.insert(ThreadKey, {"message_id": key}, case)

    def proof(self, mail: ParsedMail, employee: Employee | None) -> str | None:
        """The hash of a code the mail carries that was issued to ``employee`` and still holds: unused
        (in earlier batches and in this one) and unexpired; else None."""
        if employee is None or employee.id is None:
            return None
        for code in codes_in(mail.subject, mail.body_text):
            digest = hash_code(code)
            whose, expires_at = self.codes_held.get(digest, (None, self.now))
            if whose == employee.id and expires_at > self.now and digest not in self.codes_spent:
                return digest
        return None

    def issue_code(self, employee: Employee, hours: float) -> str:
        """A new one-time code for ``employee`` (stored as its hash when the batch is written)."""
        code = new_code()
        self.codes_issued.append((employee, hash_code(code), self.now + timedelta(hours=hours)))
        return code

    async def settle_codes(self) -> None:
        """After the flush (new people have ids): spent and expired codes go, issued ones are kept."""
        if not (self.codes_held or self.codes_issued):
            return
        gone = or_(ForgetToken.expires_at <= self.now, ForgetToken.token_hash.in_(self.codes_spent))
        await self.s.execute(delete(ForgetToken).where(gone).execution_options(synchronize_session=False))
        if self.codes_issued:
            rows = [
                {"token_hash": digest, "employee_id": person.id, "expires_at": expires_at}
                for person, digest, expires_at in self.codes_issued
            ]
            await self.s.execute(insert(cast(Table, ForgetToken.__table__)), rows)

    def schedule(self, case: Case, kind: TimerKind, due: datetime) -> None:
        self.insert(
            Timer, {"kind": TimerKind(kind).value, "due_at": due, "payload": {}, "created_at": self.now}, case
        )

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
        await auto_mail_rows.record(self.s, self.auto_sent, self.now)
        for model in (Mail, Message, ThreadKey, Timer, OutboxRow):
            if model not in tables:
                continue
            table = cast(Table, model.__table__)
            if model is OutboxRow and self.lease_until is not None:
                await self._insert_claimed(table, tables[model], self.lease_until)
            else:
                await self.s.execute(insert(table), tables[model])

    async def _insert_claimed(self, table: Table, rows: list[dict[str, Any]], until: datetime) -> None:
        """Outbox rows stored claimed until ``until`` (no other sender takes them meanwhile), kept as
        jobs for the sender beside the poll."""
        for row in rows:
            row["next_attempt_at"] = until
        ids = await self.s.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
        self.handed += [
            Job(
                row_id,
                row["case_id"],
                row["kind"],
                row["counselor_id"],
                row["attempts"],
                row["recipient_enc"],
                row["raw_enc"],
                leased_until=until,
            )
            for row_id, row in zip(ids.all(), rows, strict=True)
        ]

    async def still_handed(self) -> list[Job]:
        """The handed rows that are still there (an erasure in the batch may have taken some)."""
        if not self.handed:
            return []
        ids = {job.row_id for job in self.handed}
        kept = set(await self.s.scalars(select(OutboxRow.id).where(OutboxRow.id.in_(ids))))
        return [job for job in self.handed if job.row_id in kept]


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
    lines = {bare(without_codes(line)) for line in (mail.subject, *mail.new_text.splitlines()[:3])}
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
        "other_sender": False,
    }
