"""Database schema (SQLAlchemy 2 declarative). Content and contact data are stored encrypted.

Tables:
    counselors      the roster, synced from [[counselors]] at start-up; on-duty flag and current case
    employees       pseudonymous people (HMAC of their channel identity); encrypted contact data
    conversations   conversation state per employee (the intake machine's state), one row each
    cases           one help request: code, channel, status, category, risk, timestamps, counselor
    messages        what was said in a case: direction, encrypted content, risk, cues
    offers          where a case card was shown to a counselor (to update it when the case is taken)
    timers          durable deadlines (reminders, escalations), claimed with a lease
    alerts          crisis alerts with their acknowledgement and escalation times (crisis report)
    mails           e-mails in and out (encrypted raw bytes), with their inbox position and flags
    thread_keys     Message-IDs that belong to a case (threading)
    mail_cursors    (UIDVALIDITY, last UID) per mailbox
    outbox          mail to send, retried with backoff; never sent twice once marked sent
    contact_events  the bare fact of a contact that never became a case (e.g. consent declined)
    slots           face-to-face times counselors offer; bookings  one booking's state per row
    survey_tokens   open survey invitations (token hash); survey_pending  answers sealed until their
                    month is over; survey_invitations  counts per month and channel; survey_answers
                    anonymous answers (flows/survey_release)
    forget_tokens   one-time codes that confirm an erasure asked for by e-mail (hash, person, expiry)
    line_events     LINE webhook events stored before they are answered (deduplicated by webhookEventId),
                    sealed until processed; line_blocked  LINE users who blocked the account (pseudonym)
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    CHAR,
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamps on every backend: stored as UTC, returned aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Stamp = UtcDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Counselor(Base):
    __tablename__ = "counselors"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False)
    on_duty_since: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    current_case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Employee(Base):
    __tablename__ = "employees"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    contact_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class Conversation(Base):
    __tablename__ = "conversations"

    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(Stamp)
    # issue 7: the hash of a survey token while its comment question is open (transient; see flows/survey)
    survey_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_status_opened", "status", "opened_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    risk: Mapped[str] = mapped_column(String(16), default="none")
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"), nullable=True)
    counselor_id: Mapped[int | None] = mapped_column(ForeignKey("counselors.telegram_id"), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(Stamp)
    claimed_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reply_due_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    first_reply_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    survey_invited: Mapped[bool] = mapped_column(Boolean, default=False)  # issue 7: one invitation per case

    employee: Mapped[Employee | None] = relationship(lazy="raise")


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    direction: Mapped[str] = mapped_column(String(16))  # inbound | outbound | note
    counselor_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    content_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    risk: Mapped[str] = mapped_column(String(16), default="none")
    cues: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    other_sender: Mapped[bool] = mapped_column(Boolean, default=False)  # not the case's first sender

    case: Mapped[Case] = relationship(lazy="raise")


class Offer(Base):
    __tablename__ = "offers"
    __table_args__ = (UniqueConstraint("case_id", "counselor_id", "kind", name="uq_offers_case_counselor"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    counselor_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16), default="case")  # case | alert
    card_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)  # channel message reference
    created_at: Mapped[datetime] = mapped_column(Stamp)


class Timer(Base):
    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_pending", "fired_at", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(Stamp)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    payload: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    fired_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Stamp)

    case: Mapped[Case | None] = relationship(lazy="raise")


class Alert(Base):
    """A crisis alert: when it was raised, who was told, who acknowledged it and when, escalation."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    risk: Mapped[str] = mapped_column(String(16))
    cues: Mapped[list[str]] = mapped_column(JSON, default=list)
    raised_at: Mapped[datetime] = mapped_column(Stamp)
    notified: Mapped[int] = mapped_column(Integer, default=0)
    notified_supervisors_at_once: Mapped[bool] = mapped_column(Boolean, default=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    acknowledged_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)


class Mail(Base):
    """One e-mail as received or sent: encrypted raw bytes, its threading keys, its place in the inbox."""

    __tablename__ = "mails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(16))  # inbound | outbound
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    mailbox: Mapped[str | None] = mapped_column(String(200), nullable=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    uid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    received_at: Mapped[datetime] = mapped_column(Stamp)  # IMAP INTERNALDATE (or sending time)
    raw_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    auto_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    malformed: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_human: Mapped[bool] = mapped_column(Boolean, default=False)
    attachments: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    other_sender: Mapped[bool] = mapped_column(Boolean, default=False)  # not the case's first sender

    case: Mapped[Case | None] = relationship(lazy="raise")


class ThreadKey(Base):
    """A Message-ID that belongs to a case (theirs or ours), for threading follow-ups."""

    __tablename__ = "thread_keys"

    message_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)

    case: Mapped[Case] = relationship(lazy="raise")


class MailCursor(Base):
    """How far the poller got in a mailbox: (UIDVALIDITY, last stored UID)."""

    __tablename__ = "mail_cursors"

    mailbox: Mapped[str] = mapped_column(String(200), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)


class Outbox(Base):
    """Mail waiting to be sent (acknowledgements, answers), retried with backoff until sent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # ack | answer | referral
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    recipient_enc: Mapped[bytes] = mapped_column(LargeBinary)
    raw_enc: Mapped[bytes] = mapped_column(LargeBinary)
    counselor_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(Stamp)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    sent_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)

    case: Mapped[Case | None] = relationship(lazy="raise")


class ContactEvent(Base):
    __tablename__ = "contact_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(Stamp)


# ---- face-to-face booking and the satisfaction survey (issue 7; flows/booking.py, flows/survey.py) -----


class SlotRow(Base):
    """A time a counselor offers for face-to-face counseling; ``booking_id`` is set while it is held."""

    __tablename__ = "slots"
    __table_args__ = (Index("ix_slots_free", "booking_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    counselor_id: Mapped[int] = mapped_column(ForeignKey("counselors.telegram_id"), index=True)
    start: Mapped[datetime] = mapped_column(Stamp)
    minutes: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(200))
    booking_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # no FK: bookings point here
    created_at: Mapped[datetime] = mapped_column(Stamp)


class BookingRow(Base):
    """One booking's state (flows/booking.BookingState); a referral code groups the bookings of one
    referral. The counselor's private reason is encrypted; the employee is reached through ``employee``."""

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_code: Mapped[str] = mapped_column(String(16), index=True)
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"), nullable=True, index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    state: Mapped[str] = mapped_column(String(32))
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("slots.id"), nullable=True)
    area: Mapped[str | None] = mapped_column(String(32), nullable=True)
    paid_minutes: Mapped[int] = mapped_column(Integer, default=0)
    consent_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    private_reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)
    survey_invited: Mapped[bool] = mapped_column(Boolean, default=False)
    reminded_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)  # sent once


class SurveyToken(Base):
    """An open survey invitation under its token's hash: no case, no employee, no timestamp."""

    __tablename__ = "survey_tokens"
    __table_args__ = ({"sqlite_with_rowid": False},)

    token_hash: Mapped[str] = mapped_column(CHAR(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    month: Mapped[str] = mapped_column(CHAR(7))
    state: Mapped[str] = mapped_column(String(16))
    rating: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    recommend: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class SurveyAnswer(Base):
    """One anonymous answer of a month that is over: a channel (or "merged") and the month, kept only as
    far as they match 5 or more invitations (flows/survey_release); random id, no timestamps, no links."""

    __tablename__ = "survey_answers"
    __table_args__ = ({"sqlite_with_rowid": False},)

    id: Mapped[str] = mapped_column(CHAR(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    month: Mapped[str] = mapped_column(CHAR(7))
    rating: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    recommend: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    comment_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class SurveyPending(Base):
    """An answer whose month is not over yet, sealed whole (issue 17): nothing readable but a random id."""

    __tablename__ = "survey_pending"
    __table_args__ = ({"sqlite_with_rowid": False},)

    id: Mapped[str] = mapped_column(CHAR(32), primary_key=True)
    sealed_enc: Mapped[bytes] = mapped_column(LargeBinary)


class SurveyInvitations(Base):
    """How many survey invitations went out per month and channel: what a stored answer must hide among."""

    __tablename__ = "survey_invitations"

    month: Mapped[str] = mapped_column(CHAR(7), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    invited: Mapped[int] = mapped_column(Integer)


class ForgetToken(Base):
    """A one-time code that confirms an erasure asked for by e-mail: only its hash (sha-256), whose it
    is and until when it holds. Used, expired or its person gone, the row goes."""

    __tablename__ = "forget_tokens"

    token_hash: Mapped[str] = mapped_column(CHAR(64), primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(Stamp)


class LineEvent(Base):
    """One LINE webhook event, stored before the webhook answers 200: ``event_id`` (LINE's
    ``webhookEventId``) deduplicates redeliveries; ``seq`` orders a user's events; the event itself
    (which names the LINE user) is sealed until processed, then dropped with its user key."""

    __tablename__ = "line_events"
    __table_args__ = (Index("ix_line_events_pending", "done_at", "user_key", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    user_key: Mapped[str | None] = mapped_column(String(64), index=True)
    payload_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(Stamp)
    done_at: Mapped[datetime | None] = mapped_column(Stamp)
    # Several workers (0013): starts of carrying it out and by whom; what it still has to send (sealed).
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    started_by: Mapped[str | None] = mapped_column(String(64))
    replies_enc: Mapped[bytes | None] = mapped_column(LargeBinary)


class LineBlocked(Base):
    """A LINE user (by pseudonym) who blocked the account: nothing is sent to them until they follow again."""

    __tablename__ = "line_blocked"

    pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[datetime] = mapped_column(Stamp)


__all__ = [
    "Alert",
    "Base",
    "BookingRow",
    "Case",
    "ContactEvent",
    "Conversation",
    "Counselor",
    "Employee",
    "ForgetToken",
    "LineBlocked",
    "LineEvent",
    "Mail",
    "MailCursor",
    "Message",
    "Offer",
    "Outbox",
    "SlotRow",
    "SurveyAnswer",
    "SurveyInvitations",
    "SurveyPending",
    "SurveyToken",
    "ThreadKey",
    "Timer",
]
