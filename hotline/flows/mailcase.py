"""The e-mail station's rules, pure: what to do with one received mail.

One case per thread. A new thread opens a case, gets exactly one acknowledgement (unless it is an
auto-reply, or has no sender to answer) and a reply-by date ``reply_days`` after it reached the inbox
(its IMAP INTERNALDATE); the on-duty counselors are reminded one working day before that date, and the
supervisors are told when it passes unanswered. A follow-up joins its case: it is relayed to the
counselor holding the case, and after an answer it starts a new reply window. Auto-replies are stored
and never answered; delivery reports (bounces) are not answered even in a crisis, and go to a human.
A new thread gets one automatic mail: for a crisis, its acknowledgement leads with the crisis reply; a
later crisis mail in a thread already acknowledged gets the crisis reply. An address gets at most
``auto_mail_cap`` automatic mails a day; past it, its mail is kept and a human is told (a crisis is
still alerted). A crisis in the new text (never in the quoted earlier mail) takes the crisis path at
once, whatever else is true.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hotline.domain import CaseStatus, Risk, Screening
from hotline.flows.vocabulary import (
    AlertOnDuty,
    MarkRisk,
    OfferCase,
    OpenCase,
    QueueCase,
    RelayToCounselor,
    StoreInbound,
)

REMINDER_AT = time(9, 0)
END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True, slots=True)
class MailFacts:
    """What the rules need to know about one received mail (already parsed and screened)."""

    received_at: datetime
    new_text: str
    screening: Screening
    auto_reply: bool = False
    malformed: bool = False
    has_sender: bool = True
    forget: str = ""  # "request" (asks to be forgotten) or "confirm" (confirms it), else ""
    # The confirmation carries the one-time code the explanation sent to this same address, unused and
    # unexpired: proof that whoever confirms reads that mailbox (a From line alone proves nothing).
    forget_proven: bool = False
    sender_unusable: bool = False  # a From was there, but no address a mail could be sent to
    bounce: bool = False  # a delivery report (MAILER-DAEMON, null reverse-path, multipart/report)
    # Automatic mails (acknowledgements, crisis replies, erasure explanations) this address got in the
    # last day, this batch's included: past ``MailContext.auto_mail_cap`` it gets no more (a forged From
    # must not turn the help line into a mail cannon against someone's mailbox).
    auto_mails_today: int = 0


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """The case a follow-up belongs to."""

    status: CaseStatus
    awaiting_reply: bool  # a reply window is open (its escalation is still pending)
    has_counselor: bool


@dataclass(frozen=True, slots=True)
class MailContext:
    now: datetime
    in_service_hours: bool
    next_opening: datetime
    reply_due_at: datetime  # computed with :func:`reply_due` for this mail
    remind_at: datetime
    auto_mail_cap: int = 10  # automatic mails to one address a day (``[email] auto_mails_per_day``)


# ---- effects particular to e-mail (the others come from flows.vocabulary) -----------------------------


@dataclass(frozen=True, slots=True)
class StartReplyWindow:
    """Set the case's reply-by time; schedule the reminder and the escalation."""

    due_at: datetime
    remind_at: datetime


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """Send the one acknowledgement of a new case (threaded, with the reply-by date); for a crisis
    (``crisis``: its risk) it leads with the crisis reply, so that the new thread gets one mail."""

    due_at: datetime
    crisis: Risk | None = None


@dataclass(frozen=True, slots=True)
class Reopen:
    """A follow-up to a closed case opens it again."""


@dataclass(frozen=True, slots=True)
class CrisisReply:
    """The caring reply to a crisis mail, at once: 1925, and 110/119 when imminent."""

    risk: Risk


@dataclass(frozen=True, slots=True)
class ExplainForget:
    """Answer a request to be forgotten: what will and will not be kept, and how to confirm (with a new
    one-time code, sent to the address that asked). ``unconfirmed``: the mail said it confirms, but
    without a valid code, so nothing was erased and the address's owner learns that someone asked."""

    unconfirmed: bool = False


@dataclass(frozen=True, slots=True)
class ForgetSender:
    """The sender confirmed: erase their contact data and the content of their cases."""


@dataclass(frozen=True, slots=True)
class FlagForHuman:
    reason: str


@dataclass(frozen=True, slots=True)
class KeepOnly:
    """Store the mail and do nothing else (an auto-reply)."""


MailEffect = (
    OpenCase
    | StoreInbound
    | OfferCase
    | QueueCase
    | RelayToCounselor
    | MarkRisk
    | AlertOnDuty
    | StartReplyWindow
    | Acknowledge
    | Reopen
    | FlagForHuman
    | KeepOnly
    | ExplainForget
    | ForgetSender
    | CrisisReply
)


def reply_due(received_at: datetime, reply_days: int, zone: ZoneInfo) -> datetime:
    """The end (23:59:59, local time) of the day ``reply_days`` after the mail reached the inbox."""
    day = received_at.astimezone(zone).date() + timedelta(days=reply_days)
    return datetime.combine(day, END_OF_DAY, tzinfo=zone)


def reminder_time(due_at: datetime, is_working_day: Callable[[date], bool], zone: ZoneInfo) -> datetime:
    """09:00 on the last working day before the reply-by date."""
    day = due_at.astimezone(zone).date() - timedelta(days=1)
    for _ in range(60):
        if is_working_day(day):
            break
        day -= timedelta(days=1)
    return datetime.combine(day, REMINDER_AT, tzinfo=zone)


def on_mail(mail: MailFacts, case: CaseFacts | None, ctx: MailContext) -> list[MailEffect]:
    """The effects of one received mail; ``case`` is the case of its thread, if it has one."""
    crisis = mail.screening.is_crisis
    if mail.bounce:  # never answered, whatever it says (RFC 3834; RFC 5321 null reverse-path)
        return _bounce(mail, case, crisis)
    if mail.auto_reply and not crisis:
        return [KeepOnly()]
    capped = mail.has_sender and mail.auto_mails_today >= ctx.auto_mail_cap
    if mail.forget and mail.has_sender and not crisis:  # a crisis first: someone will reach out
        if mail.forget == "confirm" and mail.forget_proven:
            return [ForgetSender()]
        if capped:
            return [KeepOnly(), FlagForHuman("auto_mail_cap")]
        return [ExplainForget(unconfirmed=mail.forget == "confirm")]
    answerable = mail.has_sender and not capped
    effects: list[MailEffect] = []
    window = StartReplyWindow(ctx.reply_due_at, ctx.remind_at)
    if case is None:
        effects += [OpenCase(None), window]
        acknowledged = answerable and not mail.auto_reply
        if acknowledged:
            effects.append(Acknowledge(ctx.reply_due_at, mail.screening.risk if crisis else None))
        effects.append(StoreInbound(mail.new_text, mail.screening))
        if not crisis:
            effects.append(OfferCase() if ctx.in_service_hours else QueueCase(ctx.next_opening))
    else:
        acknowledged = False
        if case.status is CaseStatus.CLOSED:
            effects += [Reopen(), window]
            if not crisis:
                effects.append(OfferCase() if ctx.in_service_hours else QueueCase(ctx.next_opening))
        elif not case.awaiting_reply:
            effects.append(window)
        effects.append(StoreInbound(mail.new_text, mail.screening))
        if case.has_counselor and case.status is CaseStatus.ACTIVE:
            effects.append(RelayToCounselor(mail.new_text))
    if crisis:
        effects += [MarkRisk(mail.screening), AlertOnDuty(mail.screening, mail.new_text)]
        if answerable and not acknowledged:  # a new thread's acknowledgement leads with it
            effects.append(CrisisReply(mail.screening.risk))
    if mail.malformed:
        effects.append(FlagForHuman("malformed"))
    elif not mail.has_sender:
        effects.append(FlagForHuman("unusable_sender" if mail.sender_unusable else "no_sender"))
    elif capped and (crisis or (case is None and not mail.auto_reply)):  # a mail it would have had
        effects.append(FlagForHuman("auto_mail_cap"))
    return effects


def automatic_mails(effects: list[MailEffect]) -> int:
    """How many automatic mails ``effects`` send to the mail's sender (what the daily cap counts)."""
    return sum(isinstance(effect, Acknowledge | CrisisReply | ExplainForget) for effect in effects)


def _bounce(mail: MailFacts, case: CaseFacts | None, crisis: bool) -> list[MailEffect]:
    """A delivery report: kept and shown to a human (in its case, when it belongs to one), never answered."""
    if case is None and not crisis:
        return [KeepOnly(), FlagForHuman("bounce")]
    effects: list[MailEffect] = [] if case is not None else [OpenCase(None)]
    effects.append(StoreInbound(mail.new_text, mail.screening))
    if crisis:
        effects += [MarkRisk(mail.screening), AlertOnDuty(mail.screening, mail.new_text)]
    return [*effects, FlagForHuman("bounce")]
