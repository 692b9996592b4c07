"""The storage suite: runs on SQLite and on the local PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from hotline.crypto import Vault
from hotline.domain import Category, Channel, Risk, Role, Screening
from hotline.sandbox.stage import OPEN_HOURS, ROSTER
from hotline.settings import CounselorEntry
from hotline.storage import db, repo
from hotline.storage.models import Case, Conversation, Counselor, Employee, Message
from hotline.storage.repo import Store
from hotline.timer_kinds import TimerKind

SECRET = "x" * 40
NOW = OPEN_HOURS


async def make_store(url: str) -> Store:
    await db.upgrade(url)
    store = Store(url, Vault(SECRET))
    async with store.unit() as s:
        await repo.sync_roster(s, ROSTER)
    return store


async def new_case(store: Store, risk: Risk = Risk.NONE) -> int:
    async with store.unit() as s:
        employee = await repo.ensure_employee(
            s, store.vault.pseudonym("telegram", "1"), Channel.TELEGRAM, NOW
        )
        case = await repo.open_case(
            s, channel=Channel.TELEGRAM, employee_id=employee.id, category=Category.LEGAL, now=NOW
        )
        await repo.add_message(
            s, store, case, direction="inbound", text="我想問法律問題", now=NOW, screening=Screening(risk)
        )
        return case.id


async def test_migrations_are_idempotent(db_url: str) -> None:
    await db.upgrade(db_url)
    await db.upgrade(db_url)
    store = Store(db_url, Vault(SECRET))
    try:
        async with store.unit() as s:
            version = (await s.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert version == db.head_revision() == db.HEAD_REVISION
    finally:
        await store.close()


def test_a_database_at_the_newest_schema_is_opened_without_alembic(tmp_path: Path) -> None:
    """The serving process imports Alembic (about 10 MiB resident) only to change a schema: a second
    process started on a database already upgraded never imports it; an old one is still migrated."""
    new, old = (f"sqlite+aiosqlite:///{tmp_path / name}" for name in ("new.db", "old.db"))

    def alembic_imported(url: str) -> str:
        probe = (
            "import asyncio, sys\n"
            "from hotline.storage import db\n"
            f"asyncio.run(db.upgrade({url!r}))\n"
            "print('alembic' in sys.modules)\n"
        )
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert alembic_imported(new) == "True", "a new database is migrated with Alembic"
    assert alembic_imported(new) == "False", "a database at the newest schema was opened with Alembic"
    db.upgrade_sync(old, "0015")
    assert alembic_imported(old) == "True", "a database one migration behind was not migrated"
    assert alembic_imported(old) == "False"


async def test_roster_sync_adds_updates_and_retires(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        async with store.unit() as s:
            await repo.set_duty(s, 9001, True, NOW)
        changed = (CounselorEntry(telegram_id=9001, name="王大明心理師", role=Role.SUPERVISOR),)
        async with store.unit() as s:
            await repo.sync_roster(s, changed)
        async with store.unit() as s:
            rows = {c.telegram_id: c for c in (await s.scalars(select(Counselor))).all()}
            assert rows[9001].name == "王大明心理師" and rows[9001].role == "supervisor" and rows[9001].active
            assert not rows[9002].active and not rows[9100].active
            assert await repo.counselor(s, 9002) is None
            assert [c.telegram_id for c in await repo.supervisors(s)] == [9001]
    finally:
        await store.close()


async def test_case_lifecycle_and_summaries(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        case_id = await new_case(store, Risk.ELEVATED)
        async with store.unit() as s:
            case = await s.get(Case, case_id)
            assert case is not None
            assert case.code.startswith("HL-") and len(case.code) == 9
            assert case.status == "waiting" and case.risk == "elevated" and case.message_count == 1
            assert case.opened_at == NOW
            repo.raise_risk(case, Risk.NONE)
            assert case.risk == "elevated", "risk never goes down"
            assert [c.id for c in await repo.waiting_cases(s)] == [case_id]
            assert await repo.case_by_code(s, case.code.lower()) is not None
        from hotline.storage.queries import case_summaries

        [row] = await case_summaries(db_url)
        assert set(row) == {
            "code",
            "channel",
            "status",
            "category",
            "risk",
            "opened_at",
            "reply_due_at",
            "message_count",
            "other_sender_mails",  # issue 19: a count, never which addresses
        }
        assert row["channel"] == "telegram" and row["category"] == "legal" and row["message_count"] == 1
        assert row["other_sender_mails"] == 0
        assert str(row["opened_at"]).endswith("+00:00") and row["reply_due_at"] is None
    finally:
        await store.close()


async def test_claim_race_has_exactly_one_winner(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        case_id = await new_case(store)

        async def claim(counselor_id: int) -> bool:
            async with store.unit() as s:
                return await repo.claim(s, case_id, counselor_id, NOW)

        results = await asyncio.gather(*(claim(c) for c in (9001, 9002, 9001, 9002, 9100)))
        assert sorted(results) == [False, False, False, False, True]
        async with store.unit() as s:
            case = await s.get(Case, case_id)
            assert case is not None and case.status == "active" and case.counselor_id in {9001, 9002, 9100}
    finally:
        await store.close()


async def test_content_and_contacts_are_encrypted(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        case_id = await new_case(store)
        async with store.unit() as s:
            row = await s.scalar(select(Message).where(Message.case_id == case_id))
            assert row is not None and row.content_enc is not None
            assert "法律".encode() not in row.content_enc
            assert await repo.messages_of(s, store, case_id) == [("inbound", "我想問法律問題")]
            employee = await s.scalar(select(Employee))
            assert employee is not None and len(employee.pseudonym) == 64 and employee.pseudonym != "1"
    finally:
        await store.close()


async def test_no_plaintext_in_the_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    store = await make_store(url)
    await new_case(store)
    await store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert "我想問法律問題".encode() not in raw


async def test_timers_are_leased_once_and_survive_a_new_store(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        case_id = await new_case(store)
        async with store.unit() as s:
            await repo.schedule(
                s, TimerKind.SESSION_REMIND, NOW + timedelta(minutes=25), NOW, case_id=case_id
            )
            await repo.schedule(
                s, TimerKind.CRISIS_ESCALATE, NOW + timedelta(minutes=5), NOW, case_id=case_id
            )
        async with store.unit() as s:
            assert await repo.next_due_at(s) == NOW + timedelta(minutes=5)
            assert (
                await repo.claim_due_timers(s, NOW, "a", NOW + timedelta(minutes=1), lock=store.locking) == []
            )
    finally:
        await store.close()

    store = Store(db_url, Vault(SECRET))  # as after a restart
    try:
        later = NOW + timedelta(minutes=6)
        lease = later + timedelta(minutes=1)
        async with store.unit() as s:
            first = await repo.claim_due_timers(s, later, "a", lease, lock=store.locking)
        async with store.unit() as s:
            second = await repo.claim_due_timers(s, later, "b", lease, lock=store.locking)
        assert [t.kind for t in first] == ["crisis.escalate"] and second == []
        async with store.unit() as s:
            assert await repo.next_due_at(s) == lease, "a leased timer is due again when its lease ends"
            await repo.finish_timer(s, first[0].id, later)
            await repo.cancel_timers(s, case_id, [TimerKind.SESSION_REMIND], later)
            assert await repo.next_due_at(s) is None
    finally:
        await store.close()


async def test_forget_contact_keeps_nothing(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        async with store.unit() as s:
            employee = await repo.ensure_employee(s, "p" * 64, Channel.TELEGRAM, NOW)
            thread = repo.Thread(employee, None, None)
            await repo.save_state(s, thread, "consent", None, None, NOW)
        async with store.unit() as s:
            thread = await repo.load_thread(s, "p" * 64, lock=store.locking)
            assert thread.conversation is not None and thread.conversation.state == "consent"
            await repo.forget_contact(s, thread)
            await repo.record_contact(s, Channel.TELEGRAM, "consent_declined", NOW)
        async with store.unit() as s:
            assert (await repo.load_thread(s, "p" * 64, lock=False)).employee is None
            count = (await s.execute(text("SELECT count(*) FROM contact_events"))).scalar_one()
            assert count == 1
    finally:
        await store.close()


async def test_rows_written_in_one_statement_stay_the_transactions_objects(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: an employee, a case (its code drawn again when taken), messages, an alert and its two
    timers are each one Core statement; the employee and the case are the session's objects after it,
    so what the transaction changes on them afterwards is stored at its commit."""
    store = await make_store(db_url)
    try:
        taken = await new_case(store)
        async with store.unit() as s:
            taken_code = (await s.get(Case, taken)).code  # type: ignore[union-attr]
        codes = iter([taken_code, "HL-NEW234"])
        monkeypatch.setattr("hotline.storage.case_repo.make_case_code", lambda _rand: next(codes))
        async with store.unit() as s:
            employee = await repo.ensure_employee(s, "q" * 64, Channel.TELEGRAM, NOW)
            case = await repo.open_case(
                s, channel=Channel.TELEGRAM, employee_id=employee.id, category=None, now=NOW
            )
            assert case.code == "HL-NEW234" and case in s and employee in s
            for text_ in ("一", "二"):
                await repo.add_message(
                    s,
                    store,
                    case,
                    direction="inbound",
                    text=text_,
                    now=NOW,
                    screening=Screening(Risk.ELEVATED),
                )
            employee.contact_enc = b"sealed"
            await repo.record_alert(
                s, case, Screening(Risk.ELEVATED, ("cue",)), NOW, notified=1, supervisors_at_once=False
            )
            due = [(TimerKind.CRISIS_ESCALATE, NOW + timedelta(minutes=5)), (TimerKind.CRISIS_RESEND, NOW)]
            added = await repo.add_timers(s, case.id, due, NOW)
            thread = repo.Thread(employee, None, case)
            await repo.save_state(s, thread, "queued", None, case.id, NOW)
            assert thread.conversation is not None and thread.conversation in s
            thread.conversation.survey_token_hash = "h" * 64  # changed after its insert: stored at commit
            await repo.set_duty(s, 9002, True, NOW)
            await repo.set_duty(s, 9001, True, NOW)
            assert await repo.on_duty_ids(s) == [c.telegram_id for c in await repo.on_duty(s)] == [9001, 9002]
        async with store.unit() as s:
            again = await s.get(Case, case.id)
            assert again is not None and again.message_count == 2 and again.risk == Risk.ELEVATED.value
            assert (await s.get(Employee, employee.id)).contact_enc == b"sealed"  # type: ignore[union-attr]
            assert [t for _d, t in await repo.messages_of(s, store, case.id)] == ["一", "二"]
            assert [(a.risk, a.cues) for a in await repo.alerts_of(s, case.id)] == [("elevated", ["cue"])]
            timers = await repo.timers_of(s, case.id, [TimerKind.CRISIS_ESCALATE, TimerKind.CRISIS_RESEND])
            assert {t.kind: (t.id, t.due_at) for t in timers} == added and len(added) == 2
            conversation = await s.get(Conversation, employee.id)
            assert conversation is not None and conversation.state == "queued"
            assert conversation.survey_token_hash == "h" * 64
    finally:
        await store.close()
