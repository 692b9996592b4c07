"""Retention purge (``hotline purge``): erase what the retention policy no longer allows us to keep.

Policy (``[retention]``; 心理師法 record keeping, 個資法 minimisation):

* Cases closed more than ``closed_case_years`` ago: message content, raw e-mails, the outbox rows and
  the thread keys (Message-IDs often carry a sender's host or address) of the case are erased, and the
  contact data of its employee once none of their cases is still within retention. The statistics rows
  stay: cases (code, channel, category, risk, times, outcome), alerts, contact events.
* Employees who never had a case (pre-consent or abandoned intake) are deleted after ``contact_days``;
  so is the raw text of e-mails that never became a case.
* LINE (issue 15), after ``contact_days``: block-list entries (pseudonyms of users who blocked the
  account) of people whose contact data is no longer kept, and events stored but never carried out, set
  aside ones included (their sealed content and user key).

"Erased" means set to NULL (``outbox`` rows are deleted: their columns are NOT NULL and a sent mail of an
expired case has no further use). Each batch is its own transaction and every statement only touches
what is still there, so the purge is idempotent and safe to run daily and again after an interruption.
A ``purge`` audit entry records the counts (never content). On SQLite the file is compacted afterwards,
because erased values would otherwise linger in free pages and the WAL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.domain import CaseStatus
from hotline.privacy.audit import Actor, AuditAction, record
from hotline.settings import RetentionSection
from hotline.storage import auto_mails as auto_mail_rows
from hotline.storage import line_repo
from hotline.storage.models import BookingRow, Case, Conversation, Employee, Mail, Message, Outbox, ThreadKey
from hotline.storage.repo import Store

_DAYS_PER_YEAR = 365.2425


@dataclass
class PurgeReport:
    cases_past_retention: int = 0  # closed cases older than the retention period (examined)
    messages: int = 0  # message contents erased
    mails: int = 0  # raw e-mails erased (of expired cases, and never-a-case mails)
    outbox: int = 0  # outbox rows deleted
    thread_keys: int = 0  # Message-IDs deleted
    contacts: int = 0  # employees' contact data erased
    employees: int = 0  # employees who never had a case, deleted
    line_blocked: int = 0  # LINE block-list entries deleted
    line_events: int = 0  # LINE events never carried out (or set aside), erased
    auto_mails: int = 0  # day-old records of automatic mails to an address (pseudonym, time), deleted

    @property
    def erased(self) -> int:
        return (
            self.messages + self.mails + self.outbox + self.thread_keys + self.contacts + self.employees
            + self.line_blocked + self.line_events + self.auto_mails
        )  # fmt: skip

    def as_detail(self) -> dict[str, Any]:
        return asdict(self)


def years_before(moment: datetime, years: float) -> datetime:
    """``moment`` minus ``years`` calendar years (29 February becomes 28 February), fractions in days."""
    whole = int(years)
    try:
        shifted = moment.replace(year=moment.year - whole)
    except ValueError:
        shifted = moment.replace(year=moment.year - whole, day=28)
    return shifted - timedelta(days=(years - whole) * _DAYS_PER_YEAR)


def _count(result: Any) -> int:
    return int(result.rowcount)


async def purge(
    store: Store,
    settings_retention: RetentionSection,
    *,
    now: datetime,
    batch_size: int = 500,
    actor: Actor | None = None,
    compact_after: bool = True,
) -> PurgeReport:
    """Erase what is due under ``settings_retention`` at ``now`` (see the module docstring)."""
    report = PurgeReport()
    case_cutoff = years_before(now, settings_retention.closed_case_years)
    contact_cutoff = now - timedelta(days=settings_retention.contact_days)
    last = 0
    while True:
        async with store.unit() as s:
            ids = list(
                (
                    await s.scalars(
                        select(Case.id)
                        .where(
                            Case.status == CaseStatus.CLOSED.value,
                            Case.closed_at < case_cutoff,
                            Case.id > last,
                        )
                        .order_by(Case.id)
                        .limit(batch_size)
                    )
                ).all()
            )
            if not ids:
                break
            last = ids[-1]
            await _purge_cases(s, ids, case_cutoff, report)
    await _purge_never_cases(store, contact_cutoff, batch_size, report)
    async with store.unit() as s:
        report.line_blocked, report.line_events = await line_repo.purge_stale(s, contact_cutoff, now)
        report.auto_mails = await auto_mail_rows.prune(s, now)
    async with store.unit() as s:
        await record(
            s, actor=actor or Actor.system(), action=AuditAction.PURGE, detail=report.as_detail(), now=now
        )
    if compact_after and report.erased:
        await compact(store)
    return report


async def _purge_cases(s: AsyncSession, ids: list[int], case_cutoff: datetime, report: PurgeReport) -> None:
    report.cases_past_retention += len(ids)
    report.messages += _count(
        await s.execute(
            update(Message)
            .where(Message.case_id.in_(ids), Message.content_enc.is_not(None))
            .values(content_enc=None)
        )
    )
    report.mails += _count(
        await s.execute(
            update(Mail).where(Mail.case_id.in_(ids), Mail.raw_enc.is_not(None)).values(raw_enc=None)
        )
    )
    report.outbox += _count(await s.execute(delete(Outbox).where(Outbox.case_id.in_(ids))))
    report.thread_keys += _count(await s.execute(delete(ThreadKey).where(ThreadKey.case_id.in_(ids))))
    # Contact data goes once none of the employee's cases is still within retention.
    still_kept = (
        select(Case.id)
        .where(Case.employee_id == Employee.id)
        .where((Case.status != CaseStatus.CLOSED.value) | (Case.closed_at >= case_cutoff))
        .exists()
    )
    employees_of = select(Case.employee_id).where(Case.id.in_(ids), Case.employee_id.is_not(None))
    report.contacts += _count(
        await s.execute(
            update(Employee)
            .where(Employee.id.in_(employees_of), Employee.contact_enc.is_not(None), ~still_kept)
            .values(contact_enc=None)
            .execution_options(synchronize_session=False)
        )
    )


async def _purge_never_cases(
    store: Store, contact_cutoff: datetime, batch_size: int, report: PurgeReport
) -> None:
    no_case = ~select(Case.id).where(Case.employee_id == Employee.id).exists()
    no_case &= ~select(BookingRow.id).where(BookingRow.employee_id == Employee.id).exists()  # issue 7
    while True:
        async with store.unit() as s:
            ids = list(
                (
                    await s.scalars(
                        select(Employee.id)
                        .where(Employee.created_at < contact_cutoff, no_case)
                        .order_by(Employee.id)
                        .limit(batch_size)
                    )
                ).all()
            )
            if not ids:
                break
            await s.execute(delete(Conversation).where(Conversation.employee_id.in_(ids)))
            report.employees += _count(await s.execute(delete(Employee).where(Employee.id.in_(ids))))
    async with store.unit() as s:
        report.mails += _count(
            await s.execute(
                update(Mail)
                .where(Mail.case_id.is_(None), Mail.received_at < contact_cutoff, Mail.raw_enc.is_not(None))
                .values(raw_enc=None)
            )
        )


async def compact(store: Store) -> None:
    """SQLite: rewrite the file and empty the WAL, so erased or re-encrypted values leave the disk.

    PostgreSQL keeps dead row versions until VACUUM; they hold ciphertext only. ``VACUUM FULL`` in a
    maintenance window rewrites the tables (docs/privacy.md); it is not run from here.
    """
    if store.engine.dialect.name != "sqlite":
        return
    async with store.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await auto.exec_driver_sql("VACUUM")
        await auto.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


__all__ = ["PurgeReport", "compact", "purge", "years_before"]
