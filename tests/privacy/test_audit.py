"""The audit trail on SQLite and PostgreSQL: entries, the append-only triggers, reveal and read rules."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlalchemy import select, text

from hotline.domain import Channel
from hotline.errors import StorageError
from hotline.privacy.audit import (
    Actor,
    ActorKind,
    AuditAction,
    Refused,
    Revealed,
    entries,
    may_read_case,
    record,
    reveal_identity,
    trail,
)
from hotline.storage import db, repo
from hotline.storage.models import Case
from tests.privacy.support import NOW, make_case, make_store
from tests.tests_support import COUNSELOR, OTHER, SUPERVISOR

CHAT = 777000222


async def test_migrations_reach_the_head(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        async with store.unit() as s:
            assert (
                await s.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one() == db.head_revision()
    finally:
        await store.close()


async def test_record_and_trail_of_a_case(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        code = await make_case(store, CHAT)
        other = await make_case(store, CHAT + 1)
        async with store.unit() as s:
            case = await repo.case_by_code(s, code)
            assert case is not None
            await record(s, actor=Actor.staff(COUNSELOR, "counselor"), action=AuditAction.READ_CASE,
                         case_id=case.id, now=NOW)  # fmt: skip
            await record(
                s, actor=Actor.cli("ops"), action=AuditAction.EXPORT, case_id=case.id,
                reason="法院調閱 112年度訴字第1號", detail={"messages": 1}, now=NOW + timedelta(minutes=1),
            )  # fmt: skip
            await record(s, actor=Actor.system(), action=AuditAction.PURGE, detail={"messages": 0}, now=NOW)
        async with store.unit() as s:
            entries_of_case = await trail(s, code.lower())
            assert await trail(s, other) == []
            everything = await entries(s)
        assert [e.action for e in entries_of_case] == ["read_case", "export"]
        read, export = entries_of_case
        assert read.actor == Actor(ActorKind.COUNSELOR, str(COUNSELOR)) and read.case_code == code
        assert read.at == NOW and read.at.tzinfo is not None
        assert str(export.actor) == "cli:ops" and export.reason == "法院調閱 112年度訴字第1號"
        assert export.detail == {"messages": 1}
        assert export.as_json()["at"] == (NOW + timedelta(minutes=1)).astimezone(UTC).isoformat()
        assert [e.action for e in everything] == ["read_case", "export", "purge"]
        assert everything[-1].case_code is None and str(everything[-1].actor) == "system"
    finally:
        await store.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET reason = 'rewritten'",
        "UPDATE audit_log SET action = 'read_case' WHERE id = 1",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = 1",
    ],
)
async def test_the_database_refuses_to_change_history(db_url: str, statement: str) -> None:
    store = await make_store(db_url)
    try:
        async with store.unit() as s:
            await record(s, actor=Actor.system(), action=AuditAction.PURGE, reason="original", now=NOW)
        with pytest.raises(StorageError) as caught:
            async with store.unit() as s:
                await s.execute(text(statement))
        assert "append-only" in str(caught.value.__cause__)
        async with store.unit() as s:
            [entry] = await entries(s)
        assert entry.reason == "original" and entry.action == "purge"
    finally:
        await store.close()


async def test_postgresql_refuses_truncate(pg_url: str) -> None:
    store = await make_store(pg_url)
    try:
        async with store.unit() as s:
            await record(s, actor=Actor.system(), action=AuditAction.PURGE, now=NOW)
        with pytest.raises(StorageError):
            async with store.unit() as s:
                await s.execute(text("TRUNCATE audit_log"))
        async with store.unit() as s:
            assert len(await entries(s)) == 1
    finally:
        await store.close()


async def test_reveal_identity_needs_a_supervisor_and_a_reason_or_consent(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        code = await make_case(store, CHAT)
        attempts = [
            (COUNSELOR, "她說今晚要結束生命", False),  # a counselor, without consent: refused
            (SUPERVISOR, "   ", False),  # a supervisor without a written reason: refused
            (123456, "I am curious", False),  # not on the roster: refused
            (SUPERVISOR, "自殺危機，需通報 119 協助", False),  # safety ground: revealed
            (COUNSELOR, None, True),  # the employee consented: revealed
        ]
        results = []
        for requester, reason, consent in attempts:
            async with store.unit() as s:
                results.append(
                    await reveal_identity(
                        s, store.vault, requester_id=requester, case_code=code, reason=reason,
                        consent=consent, now=NOW,
                    )
                )  # fmt: skip
        assert [type(r) for r in results] == [Refused, Refused, Refused, Revealed, Revealed]
        assert results[3] == Revealed(Channel.TELEGRAM.value, str(CHAT))
        async with store.unit() as s:
            log = await trail(s, code)
            missing = await reveal_identity(
                s, store.vault, requester_id=SUPERVISOR, case_code="HL-ZZZZZZ", reason="r", now=NOW
            )
        assert isinstance(missing, Refused)
        assert [e.action for e in log] == ["access_denied"] * 3 + ["reveal_identity"] * 2
        assert log[3].reason == "自殺危機，需通報 119 協助" and log[3].detail == {
            "ground": "safety",
            "channel": "telegram",
        }
        assert log[3].actor == Actor(ActorKind.SUPERVISOR, str(SUPERVISOR))
        assert log[4].detail is not None and log[4].detail["ground"] == "consent"
        assert all(str(CHAT) not in str(e.as_json()) for e in log), "the trail must not hold the identity"
    finally:
        await store.close()


async def test_reveal_refused_when_the_contact_was_erased(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        code = await make_case(store, CHAT)
        async with store.unit() as s:
            case = await repo.case_by_code(s, code)
            assert case is not None
            found = await repo.employee_for_case(s, case)
            assert found is not None
            found[0].contact_enc = None
        async with store.unit() as s:
            result = await reveal_identity(
                s, store.vault, requester_id=SUPERVISOR, case_code=code, reason="安全疑慮", now=NOW
            )
        assert result == Refused("no contact data is stored for this case")
    finally:
        await store.close()


async def test_read_rule_assigned_offered_supervisor(db_url: str) -> None:
    store = await make_store(db_url)
    try:
        code = await make_case(store, CHAT, counselor_id=COUNSELOR)
        async with store.unit() as s:
            case = await s.scalar(select(Case).where(Case.code == code))
            assert case is not None
            verdicts = [
                await may_read_case(s, counselor_id=who, case=case, now=NOW)
                for who in (COUNSELOR, OTHER, SUPERVISOR, 4242)
            ]
            await repo.record_offer(s, case.id, OTHER, "case", None, NOW)
            verdicts.append(await may_read_case(s, counselor_id=OTHER, case=case, now=NOW))
        assert verdicts == [True, False, True, False, True]
        async with store.unit() as s:
            log = await trail(s, code)
        assert [e.action for e in log] == [
            "read_case", "access_denied", "read_case", "access_denied", "read_case"
        ]  # fmt: skip
        assert log[1].actor.id == str(OTHER) and log[3].detail == {
            "wanted": "content",
            "why": "not on the roster",
        }
    finally:
        await store.close()
