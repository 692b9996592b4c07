"""The e-mail station's rules, pure: every kind of mail against every kind of case."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from hotline.domain import NO_RISK, CaseStatus, Risk, Screening
from hotline.flows import mailcase
from hotline.flows.mailcase import (
    Acknowledge,
    CaseFacts,
    FlagForHuman,
    KeepOnly,
    MailContext,
    MailFacts,
    Reopen,
    StartReplyWindow,
    on_mail,
    reminder_time,
    reply_due,
)
from hotline.flows.vocabulary import (
    AlertOnDuty,
    MarkRisk,
    OfferCase,
    OpenCase,
    QueueCase,
    RelayToCounselor,
    StoreInbound,
)
from hotline.hours import ServiceHours
from hotline.sandbox.stage import TAIPEI
from hotline.settings import HoursSection

RECEIVED = datetime(2026, 11, 25, 9, 30, tzinfo=TAIPEI)  # Wednesday
DUE = reply_due(RECEIVED, 3, TAIPEI)
REMIND = reminder_time(DUE, ServiceHours(HoursSection()).is_working_day, TAIPEI)
OPEN = MailContext(RECEIVED, True, RECEIVED, DUE, REMIND)
CLOSED_HOURS = MailContext(RECEIVED, False, RECEIVED + timedelta(days=1), DUE, REMIND)
CRISIS = Screening(Risk.IMMINENT, ("suicide.method.jump",))


def facts(**kw: object) -> MailFacts:
    values: dict[str, object] = {"received_at": RECEIVED, "new_text": "想找人聊聊", "screening": NO_RISK}
    values.update(kw)
    return MailFacts(**values)  # type: ignore[arg-type]


def test_reply_by_date_and_reminder() -> None:
    assert datetime(2026, 11, 28, 23, 59, 59, tzinfo=TAIPEI) == DUE  # Saturday: calendar days
    assert datetime(2026, 11, 27, 9, 0, tzinfo=TAIPEI) == REMIND  # the working day before
    monday_due = reply_due(datetime(2026, 11, 27, 20, 0, tzinfo=TAIPEI), 3, TAIPEI)
    assert monday_due.date() == date(2026, 11, 30)
    assert reminder_time(monday_due, ServiceHours(HoursSection()).is_working_day, TAIPEI).date() == date(
        2026, 11, 27
    )
    never = reminder_time(monday_due, lambda _d: False, TAIPEI)
    assert never.date() == date(2026, 11, 29) - timedelta(days=60), "a calendar without working days ends"


def test_new_mail_in_and_out_of_hours() -> None:
    effects = on_mail(facts(), None, OPEN)
    assert effects == [
        OpenCase(None),
        StartReplyWindow(DUE, REMIND),
        Acknowledge(DUE),
        StoreInbound("想找人聊聊", NO_RISK),
        OfferCase(),
    ]
    assert on_mail(facts(), None, CLOSED_HOURS)[-1] == QueueCase(CLOSED_HOURS.next_opening)


def test_auto_replies_are_kept_only_unless_they_carry_a_crisis() -> None:
    assert on_mail(facts(auto_reply=True), None, OPEN) == [KeepOnly()]
    effects = on_mail(facts(auto_reply=True, screening=CRISIS), None, OPEN)
    assert Acknowledge(DUE) not in effects and AlertOnDuty(CRISIS, "想找人聊聊") in effects


def test_crisis_in_a_new_mail_alerts_instead_of_offering() -> None:
    from hotline.flows.mailcase import CrisisReply

    effects = on_mail(facts(screening=CRISIS), None, CLOSED_HOURS)
    assert effects[-2:] == [MarkRisk(CRISIS), AlertOnDuty(CRISIS, "想找人聊聊")]
    no_sender = on_mail(facts(screening=CRISIS, has_sender=False), None, CLOSED_HOURS)
    assert not any(isinstance(e, CrisisReply | Acknowledge) for e in no_sender)
    assert not any(isinstance(e, OfferCase | QueueCase) for e in effects), "a crisis is not queued"
    # One automatic mail for a new thread (issue 12): the acknowledgement leads with the crisis reply.
    assert Acknowledge(DUE, Risk.IMMINENT) in effects
    assert not any(isinstance(e, CrisisReply) for e in effects)


@pytest.mark.parametrize("risk", [Risk.ELEVATED, Risk.IMMINENT])
def test_a_later_crisis_mail_in_an_acknowledged_thread_gets_the_crisis_reply(risk: Risk) -> None:
    from hotline.flows.mailcase import CrisisReply

    screening = Screening(risk, ("suicide.intent.direct",))
    effects = on_mail(facts(screening=screening), CaseFacts(CaseStatus.WAITING, True, False), OPEN)
    assert CrisisReply(risk) in effects and not any(isinstance(e, Acknowledge) for e in effects)
    closed = on_mail(facts(screening=screening), CaseFacts(CaseStatus.CLOSED, False, True), OPEN)
    assert CrisisReply(risk) in closed and Reopen() in closed


def test_an_unusable_sender_gets_no_acknowledgement_and_the_case_says_why() -> None:
    effects = on_mail(facts(has_sender=False, sender_unusable=True), None, OPEN)
    assert not any(isinstance(e, Acknowledge) for e in effects)
    assert effects[-1] == FlagForHuman("unusable_sender")
    assert on_mail(facts(has_sender=False), None, OPEN)[-1] == FlagForHuman("no_sender")


@pytest.mark.parametrize("screening", [NO_RISK, CRISIS])
@pytest.mark.parametrize("case", [None, CaseFacts(CaseStatus.ACTIVE, True, True)])
def test_bounces_are_never_answered_and_go_to_a_human(screening: Screening, case: CaseFacts | None) -> None:
    from hotline.flows.mailcase import CrisisReply

    effects = on_mail(facts(bounce=True, auto_reply=True, screening=screening), case, OPEN)
    assert not any(isinstance(e, Acknowledge | CrisisReply | StartReplyWindow) for e in effects)
    assert effects[-1] == FlagForHuman("bounce")
    crisis = screening is CRISIS
    assert (AlertOnDuty(CRISIS, "想找人聊聊") in effects) == crisis, "screened like any mail"
    if case is None and not crisis:
        assert effects == [KeepOnly(), FlagForHuman("bounce")]
    else:
        assert StoreInbound("想找人聊聊", screening) in effects, "shown to counselors in its case"
        assert (OpenCase(None) in effects) == (case is None)


@pytest.mark.parametrize("awaiting", [True, False])
@pytest.mark.parametrize("status", list(CaseStatus))
@pytest.mark.parametrize("counselor", [True, False])
def test_follow_ups(awaiting: bool, status: CaseStatus, counselor: bool) -> None:
    effects = on_mail(facts(), CaseFacts(status, awaiting, counselor), OPEN)
    assert OpenCase(None) not in effects and Acknowledge(DUE) not in effects, "one case, one acknowledgement"
    assert StoreInbound("想找人聊聊", NO_RISK) in effects
    reopened = status is CaseStatus.CLOSED
    assert (Reopen() in effects) == reopened
    assert (OfferCase() in effects) == reopened
    assert (StartReplyWindow(DUE, REMIND) in effects) == (reopened or not awaiting)
    assert (RelayToCounselor("想找人聊聊") in effects) == (counselor and status is CaseStatus.ACTIVE)
    closed_crisis = on_mail(facts(screening=CRISIS), CaseFacts(status, awaiting, counselor), CLOSED_HOURS)
    assert not any(isinstance(e, QueueCase) for e in closed_crisis)


def test_follow_up_to_a_closed_case_out_of_hours_waits_for_the_opening() -> None:
    effects = on_mail(facts(), CaseFacts(CaseStatus.CLOSED, False, False), CLOSED_HOURS)
    assert QueueCase(CLOSED_HOURS.next_opening) in effects


def test_odd_mail_is_flagged_for_a_human() -> None:
    assert on_mail(facts(malformed=True), None, OPEN)[-1] == FlagForHuman("malformed")
    no_sender = on_mail(facts(has_sender=False), None, OPEN)
    assert no_sender[-1] == FlagForHuman("no_sender") and Acknowledge(DUE) not in no_sender
    assert mailcase.END_OF_DAY.hour == 23


def test_requests_to_be_forgotten() -> None:
    from hotline.flows.mailcase import ExplainForget, ForgetSender

    case = CaseFacts(CaseStatus.ACTIVE, True, True)
    assert on_mail(facts(forget="request"), case, OPEN) == [ExplainForget()]
    assert on_mail(facts(forget="request", forget_proven=True), case, OPEN) == [ExplainForget()]
    assert on_mail(facts(forget="confirm", forget_proven=True), case, OPEN) == [ForgetSender()]
    assert on_mail(facts(forget="confirm", forget_proven=True), None, OPEN) == [ForgetSender()], (
        "the code proves it, wherever the confirmation lands"
    )
    for where in (case, None):  # a From line proves nothing: explained again, its owner told
        assert on_mail(facts(forget="confirm"), where, OPEN) == [ExplainForget(unconfirmed=True)]
    crisis = on_mail(facts(forget="confirm", forget_proven=True, screening=CRISIS), case, OPEN)
    assert AlertOnDuty(CRISIS, "想找人聊聊") in crisis and ForgetSender() not in crisis, (
        "a crisis comes first"
    )


# ---- the daily cap on automatic mails to one address -------------------------------------------------
CAPPED = 3
OPEN_CAPPED = MailContext(RECEIVED, True, RECEIVED, DUE, REMIND, auto_mail_cap=CAPPED)
ACTIVE = CaseFacts(CaseStatus.ACTIVE, awaiting_reply=True, has_counselor=True)


def test_an_address_under_the_cap_is_answered_and_each_answer_is_counted() -> None:
    below = on_mail(facts(auto_mails_today=CAPPED - 1), None, OPEN_CAPPED)
    assert Acknowledge(DUE) in below and mailcase.automatic_mails(below) == 1
    crisis = on_mail(facts(screening=CRISIS, auto_mails_today=CAPPED - 1), ACTIVE, OPEN_CAPPED)
    assert mailcase.CrisisReply(Risk.IMMINENT) in crisis and mailcase.automatic_mails(crisis) == 1
    asks = on_mail(facts(forget="request", auto_mails_today=CAPPED - 1), None, OPEN_CAPPED)
    assert asks == [mailcase.ExplainForget()] and mailcase.automatic_mails(asks) == 1
    assert mailcase.automatic_mails(on_mail(facts(), ACTIVE, OPEN_CAPPED)) == 0


def test_a_new_thread_past_the_cap_is_kept_unanswered_and_a_human_is_told() -> None:
    effects = on_mail(facts(auto_mails_today=CAPPED), None, OPEN_CAPPED)
    assert mailcase.automatic_mails(effects) == 0
    assert OpenCase(None) in effects and any(isinstance(e, StoreInbound) for e in effects)
    assert effects[-1] == FlagForHuman("auto_mail_cap")


def test_a_crisis_past_the_cap_still_alerts_the_on_duty_counselor_without_mailing_the_address() -> None:
    for case in (None, ACTIVE):
        effects = on_mail(facts(screening=CRISIS, auto_mails_today=CAPPED + 5), case, OPEN_CAPPED)
        assert mailcase.automatic_mails(effects) == 0
        assert any(isinstance(e, AlertOnDuty) for e in effects) and MarkRisk(CRISIS) in effects
        assert effects[-1] == FlagForHuman("auto_mail_cap")
    auto_reply = on_mail(facts(screening=CRISIS, auto_reply=True, auto_mails_today=CAPPED), None, OPEN_CAPPED)
    assert auto_reply[-1] == FlagForHuman("auto_mail_cap") and mailcase.automatic_mails(auto_reply) == 0


def test_a_request_to_be_forgotten_past_the_cap_gets_no_explanation_but_a_proven_one_still_erases() -> None:
    assert on_mail(facts(forget="request", auto_mails_today=CAPPED), None, OPEN_CAPPED) == [
        KeepOnly(),
        FlagForHuman("auto_mail_cap"),
    ]
    proven = facts(forget="confirm", forget_proven=True, auto_mails_today=CAPPED)
    assert on_mail(proven, None, OPEN_CAPPED) == [mailcase.ForgetSender()]


def test_past_the_cap_a_follow_up_without_a_crisis_changes_nothing_and_raises_no_flag() -> None:
    effects = on_mail(facts(auto_mails_today=CAPPED), ACTIVE, OPEN_CAPPED)
    assert effects == on_mail(facts(), ACTIVE, OPEN_CAPPED)
    kept = on_mail(facts(auto_reply=True, auto_mails_today=CAPPED), None, OPEN_CAPPED)
    assert kept == [KeepOnly()]
    no_sender = on_mail(facts(has_sender=False, auto_mails_today=CAPPED), None, OPEN_CAPPED)
    assert no_sender[-1] == FlagForHuman("no_sender")
