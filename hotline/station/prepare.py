"""What a batch of received mail needs to know, read up front in a fixed handful of queries: known
senders, the automatic mails each got in the last day, their latest cases (for requests to be forgotten), the one-time erasure codes the mails carry,
thread keys, the cases they lead to, open reply windows, and fresh case codes."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.domain import make_case_code
from hotline.mailbox.parse import ParsedMail
from hotline.settings import EmailSection
from hotline.station.batch import Batch, forget_kind
from hotline.station.erasure_code import codes_in, hash_code
from hotline.storage import auto_mails as auto_mail_rows
from hotline.storage.models import Case, Employee, ForgetToken, ThreadKey, Timer
from hotline.timer_kinds import TimerKind


async def prepare(
    batch: Batch, mails: Sequence[ParsedMail], pseudonym: Callable[[str], str], email: EmailSection
) -> None:
    """Fill ``batch`` with what its ``mails`` need (see the module doc)."""
    if not mails:
        return
    s = batch.s
    # Every sender, auto-replies too: whether a mail comes from its case's own sender is marked.
    pseudonyms = {pseudonym(m.from_address) for m in mails if m.from_address}
    if pseudonyms:
        rows = await s.scalars(select(Employee).where(Employee.pseudonym.in_(pseudonyms)))
        batch.employees = {e.pseudonym: e for e in rows.all()}
        batch.auto_mails = await auto_mail_rows.counts(s, pseudonyms, batch.now)
    asking = [m for m in mails if forget_kind(m, email)]
    if batch.employees and asking:
        known = [e.id for e in batch.employees.values()]
        latest = await s.scalars(select(Case).where(Case.employee_id.in_(known)).order_by(Case.opened_at))
        batch.latest_case = {c.employee_id: c for c in latest.all() if c.employee_id is not None}
    digests = {hash_code(code) for m in asking for code in codes_in(m.subject, m.body_text)}
    if digests:
        held = await s.execute(
            select(ForgetToken.token_hash, ForgetToken.employee_id, ForgetToken.expires_at).where(
                ForgetToken.token_hash.in_(digests)
            )
        )
        batch.codes_held = {digest: (whose, until) for digest, whose, until in held.all()}
    # The ids the mails refer to (as our own, and as their sender's), and each mail's own id (so that a
    # key already held is never inserted again).
    ids = {
        key
        for m in mails
        for message_id in m.thread_keys
        if message_id
        for key in (batch.key(message_id), batch.their_key(m.from_address, message_id))
    }
    ids |= {batch.their_key(m.from_address, m.message_id) for m in mails if m.message_id}
    found = await s.execute(
        select(ThreadKey.message_id, ThreadKey.case_id).where(ThreadKey.message_id.in_(ids))
    )
    case_ids: dict[str, int] = {message_id: case_id for message_id, case_id in found.all()}
    codes = {m.case_code_in_subject.upper() for m in mails if m.case_code_in_subject}
    query = select(Case).where(Case.id.in_(set(case_ids.values())) | Case.code.in_(codes))
    cases = {c.id: c for c in (await s.scalars(query)).all()}
    batch.threads = {key: cases[case_id] for key, case_id in case_ids.items() if case_id in cases}
    batch.codes = {c.code: c for c in cases.values()}
    if cases:
        pending = await s.scalars(
            select(Timer.case_id).where(
                Timer.case_id.in_(cases), Timer.kind == TimerKind.EMAIL_ESCALATE, Timer.fired_at.is_(None),
                Timer.cancelled_at.is_(None),
            )
        )  # fmt: skip
        batch.awaiting = {case_id for case_id in pending.all() if case_id is not None}
    batch.new_codes = await fresh_codes(s, len(mails))


async def fresh_codes(s: AsyncSession, count: int) -> list[str]:
    """``count`` case codes not yet used (one query; a collision is rare and simply redrawn)."""
    codes: set[str] = set()
    while len(codes) < count:
        wanted = {make_case_code(secrets.randbelow) for _ in range(count - len(codes))}
        taken = set((await s.scalars(select(Case.code).where(Case.code.in_(wanted)))).all())
        codes |= wanted - taken
    return sorted(codes)
