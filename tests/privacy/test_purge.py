"""Retention purge on SQLite and PostgreSQL: what is erased, what stays, idempotent, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from hotline.domain import Category, Channel, Risk, Screening
from hotline.privacy.audit import entries
from hotline.privacy.purge import purge, years_before
from hotline.settings import RetentionSection
from hotline.storage import repo
from hotline.storage.models import Alert, Case, ContactEvent, Employee, Mail, Message, Outbox, ThreadKey
from tests.privacy.support import NOW, make_case, make_store

RETENTION = RetentionSection(closed_case_years=10, contact_days=30)
LATER = years_before(NOW, -10) + timedelta(days=1)  # ten years and a day after NOW


def test_years_before_is_calendar_arithmetic() -> None:
    moment = datetime(2036, 2, 29, 12, tzinfo=UTC)
    assert years_before(moment, 10) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert years_before(datetime(2036, 3, 1, tzinfo=UTC), 10) == datetime(2026, 3, 1, tzinfo=UTC)
    assert years_before(datetime(2036, 3, 1, tzinfo=UTC), 0.5) == datetime(
        2036, 3, 1, tzinfo=UTC
    ) - timedelta(days=182.62125)


async def content_of(
    store: object, code: str
) -> tuple[list[bytes | None], list[bytes | None], int, int, bool]:
    from hotline.storage.repo import Store

    assert isinstance(store, Store)
    async with store.unit() as s:
        case = await repo.case_by_code(s, code)
        assert case is not None
        messages = list(
            (await s.scalars(select(Message.content_enc).where(Message.case_id == case.id))).all()
        )
        mails = list((await s.scalars(select(Mail.raw_enc).where(Mail.case_id == case.id))).all())
        outbox = await s.scalar(select(func.count()).where(Outbox.case_id == case.id)) or 0
        keys = await s.scalar(select(func.count()).where(ThreadKey.case_id == case.id)) or 0
        employee = await s.get(Employee, case.employee_id)
        return messages, mails, outbox, keys, employee is not None and employee.contact_enc is not None


async def test_purge_erases_what_is_due_and_keeps_statistics(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        expired = await make_case(store, 1001, ("十年前的事",), closed_at=NOW, mail=b"old mail")
        recent = await make_case(store, 1002, ("去年的事",), closed_at=NOW + timedelta(days=365))
        returning = await make_case(store, 1003, ("舊案",), closed_at=NOW)
        async with store.unit() as s:
            old = await repo.case_by_code(s, returning)
            assert old is not None
            again = await repo.open_case(
                s, channel=Channel.TELEGRAM, employee_id=old.employee_id, category=Category.CAREER, now=LATER
            )
            await repo.add_message(s, store, again, direction="inbound", text="又來了", now=LATER)
            expired_case = await repo.case_by_code(s, expired)
            assert expired_case is not None
            await repo.record_alert(
                s,
                expired_case,
                Screening(Risk.ELEVATED, ("cue",)),
                NOW,
                notified=1,
                supervisors_at_once=False,
            )
            await repo.record_contact(s, Channel.TELEGRAM, "declined", NOW)
            for created in (NOW, LATER - timedelta(days=1)):  # pre-consent contacts, old and fresh
                await repo.ensure_employee(
                    s, store.vault.pseudonym("telegram", created.isoformat()), Channel.TELEGRAM, created
                )
            s.add(Mail(direction="inbound", dedup_key="<stray@example.org>", received_at=NOW,
                       raw_enc=store.vault.encrypt_bytes(b"stray", context=b"mail"), created_at=NOW))  # fmt: skip

        report = await purge(store, RETENTION, now=LATER, batch_size=1)
        assert report.cases_past_retention == 2
        assert (report.messages, report.mails, report.outbox, report.thread_keys) == (2, 2, 1, 1)
        assert (report.contacts, report.employees) == (1, 1)

        assert await content_of(store, expired) == ([None], [None], 0, 0, False)
        messages, _, _, _, contact = await content_of(store, recent)
        assert messages[0] is not None and contact
        messages, _, _, _, contact = await content_of(store, returning)
        assert messages == [None] and contact, "contact kept while the employee has a live case"
        async with store.unit() as s:
            assert await s.scalar(select(func.count()).select_from(Case)) == 4
            assert await s.scalar(select(func.count()).select_from(Alert)) == 1
            assert await s.scalar(select(func.count()).select_from(ContactEvent)) == 1
            assert await s.scalar(select(func.count()).select_from(Employee)) == 4
            assert await s.scalar(select(func.count()).where(Mail.raw_enc.is_not(None))) == 0
            case = await repo.case_by_code(s, expired)
            assert case is not None and case.category == "family" and case.outcome == "resolved"

        second = await purge(store, RETENTION, now=LATER)
        assert second.erased == 0 and second.cases_past_retention == 2
        async with store.unit() as s:
            purges = [e for e in await entries(s) if e.action == "purge"]
        assert [p.detail["messages"] for p in purges if p.detail] == [2, 0]
        assert all(p.case_code is None and str(p.actor) == "system" for p in purges)
    finally:
        await store.close()


async def test_nothing_is_due_before_the_retention_period(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        code = await make_case(store, 1001, closed_at=NOW)
        report = await purge(store, RETENTION, now=NOW + timedelta(days=365 * 9))
        assert report.erased == 0 and report.cases_past_retention == 0
        messages, _, _, _, contact = await content_of(store, code)
        assert messages[0] is not None and contact
    finally:
        await store.close()
