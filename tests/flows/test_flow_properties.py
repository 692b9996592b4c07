"""Property tests of the pure flows (DESIGN §5): any sequence of events leaves a flow in a valid state, the
employee always gets an answer, a crisis is answered first and alerted, and nothing sent towards a counselor
carries anything but what the employee wrote (the flows never see who the employee is: a counselor-facing
effect may only quote the employee's own words)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.domain import NO_RISK, CaseStatus, Category, Outcome, Risk, Screening
from hotline.flows import mailcase, survey
from hotline.flows.intake import IN_CASE, STATES, IntakeState, step
from hotline.flows.mailcase import (
    Acknowledge,
    CaseFacts,
    CrisisReply,
    ExplainForget,
    ForgetSender,
    MailContext,
    MailFacts,
)
from hotline.flows.vocabulary import (
    AlertOnDuty,
    CaseClaimed,
    CaseEnded,
    CaseReleased,
    Command,
    Context,
    Event,
    ForgetMe,
    MarkRisk,
    NotifyCounselor,
    OfferCase,
    OpenCase,
    Pressed,
    QueueCase,
    RelayToCounselor,
    Reply,
    Said,
    ShowMyData,
    StoreInbound,
    Unsupported,
    WithdrawCase,
)
from hotline.sandbox.stage import OPEN_HOURS

SCREENINGS = st.sampled_from(
    [
        NO_RISK,
        Screening(Risk.DISTRESS, ("distress.cope",)),
        Screening(Risk.ELEVATED, ("suicide.passive",)),
        Screening(Risk.IMMINENT, ("suicide.method.jump", "time.tonight")),
    ]
)
TEXTS = st.text(min_size=1, max_size=20)
BUTTONS = st.sampled_from(
    [
        "consent:accept",
        "consent:decline",
        "forget:confirm",
        "forget:keep",
        "area:nonsense",
        "stale:whatever",
        *(f"area:{c.value}" for c in Category),
    ]
)
COMMANDS = st.sampled_from(["start", "help", "cancel", "mydata", "forget", "nonsense", "reveal"])
EMPLOYEE_EVENTS: st.SearchStrategy[Event] = st.one_of(
    st.builds(Said, TEXTS, SCREENINGS),
    st.builds(Pressed, BUTTONS),
    st.builds(Command, COMMANDS),
    st.builds(Unsupported, st.sampled_from(["sticker", "photo", "voice"])),
)
COUNSELOR_EVENTS: st.SearchStrategy[Event] = st.one_of(
    st.just(CaseClaimed()),
    st.just(CaseReleased()),
    st.builds(CaseEnded, st.sampled_from(list(Outcome))),
)
EVENTS = st.lists(st.one_of(EMPLOYEE_EVENTS, COUNSELOR_EVENTS), max_size=30)
CONTEXTS = st.sampled_from(
    [
        Context(OPEN_HOURS, True, OPEN_HOURS, None),
        Context(OPEN_HOURS, False, OPEN_HOURS + timedelta(hours=15), None),
    ]
)
COUNSELOR_FACING = (RelayToCounselor, AlertOnDuty, NotifyCounselor, OfferCase)


@settings(max_examples=300, deadline=None)
@given(events=EVENTS, ctx=CONTEXTS)
def test_intake_any_sequence_stays_valid_and_never_identifies(events: list[Event], ctx: Context) -> None:
    state = IntakeState()
    case_open = False  # what the runner would know: a case row exists for this employee
    consented = False
    written: set[str] = set()
    for event in events:
        # The runner sends counselor events only for an employee who has a case (desk.py).
        if isinstance(event, CaseClaimed | CaseReleased | CaseEnded) and not case_open:
            continue
        state, effects = step(state, event, ctx)
        assert state.name in STATES
        assert state.category is None or isinstance(state.category, Category)
        if isinstance(event, Said):
            written.add(event.text)
        if isinstance(event, Pressed) and event.data == "consent:accept" and state.name == "area":
            consented = True
        crisis = isinstance(event, Said) and event.screening.is_crisis
        # the employee always gets an answer to what they did
        if not isinstance(event, CaseClaimed | CaseReleased | CaseEnded):
            # (/mydata and a confirmed /forget are answered by the runner, with what it read or erased; in a
            # session the counselor is the answer)
            answers = Reply | ShowMyData | ForgetMe | RelayToCounselor
            assert any(isinstance(e, answers) for e in effects), (state, event, effects)
        if crisis:
            assert isinstance(effects[0], Reply) and effects[0].key.startswith("crisis."), effects
            assert any(isinstance(e, AlertOnDuty) for e in effects)
            assert any(isinstance(e, MarkRisk) for e in effects)
            assert state.name in IN_CASE
        else:
            assert not any(isinstance(e, AlertOnDuty | MarkRisk) for e in effects)
        for effect in effects:
            if isinstance(effect, OpenCase):
                assert not case_open, "a second case for one conversation"
                assert consented or crisis, "a case opened before consent, without a crisis"
                case_open = True
            if isinstance(effect, StoreInbound):
                assert case_open, "text stored with no case"
            if isinstance(effect, RelayToCounselor | AlertOnDuty):
                assert effect.text in written  # only the employee's own words go to a counselor
            if isinstance(effect, NotifyCounselor):
                assert "." in effect.key and effect.key not in written  # a message key, never free text
            if isinstance(effect, COUNSELOR_FACING):
                fields = [getattr(effect, name) for name in getattr(effect, "__slots__", ())]
                assert all(not isinstance(v, str) or v in written or "." in v for v in fields)
            if isinstance(effect, WithdrawCase | ForgetMe):
                case_open = False
                consented = False
        if isinstance(event, CaseEnded) or (
            isinstance(event, Command) and event.name == "cancel" and state.name == "idle"
        ):
            case_open = False
            consented = False
        if state.name == "idle" and not case_open:
            consented = False
        assert (state.name in IN_CASE) == case_open, (state, event, effects)


MAILS = st.builds(
    MailFacts,
    received_at=st.just(OPEN_HOURS),
    new_text=TEXTS,
    screening=SCREENINGS,
    auto_reply=st.booleans(),
    malformed=st.booleans(),
    has_sender=st.booleans(),
    forget=st.sampled_from(["", "request", "confirm"]),
    forget_proven=st.booleans(),
    sender_unusable=st.booleans(),
    bounce=st.booleans(),
)
CASES = st.one_of(
    st.none(),
    st.builds(CaseFacts, st.sampled_from(list(CaseStatus)), st.booleans(), st.booleans()),
)
MAIL_CTX = MailContext(
    now=OPEN_HOURS,
    in_service_hours=True,
    next_opening=OPEN_HOURS,
    reply_due_at=OPEN_HOURS + timedelta(days=3),
    remind_at=OPEN_HOURS + timedelta(days=2),
)
OUTGOING = (Acknowledge, CrisisReply, ExplainForget)


@settings(max_examples=500, deadline=None)
@given(mail=MAILS, case=CASES)
def test_mail_rules_one_automatic_mail_and_no_forged_erasure(mail: MailFacts, case: CaseFacts | None) -> None:
    effects = mailcase.on_mail(mail, case, MAIL_CTX)
    outgoing = [e for e in effects if isinstance(e, OUTGOING)]
    crisis = mail.screening.is_crisis
    assert len(outgoing) <= 1, effects  # never two automatic mails for one received mail
    if mail.bounce or not mail.has_sender:
        assert not outgoing  # a delivery report or a mail with no usable sender is never answered
    if mail.auto_reply and not crisis:
        assert not outgoing
    if any(isinstance(e, ForgetSender) for e in effects):
        # an erasure needs the one-time code sent to that mailbox; a From line alone proves nothing
        assert mail.forget == "confirm" and mail.forget_proven and mail.has_sender
        assert not crisis and not mail.bounce
        assert effects == [ForgetSender()]
    if crisis:
        assert any(isinstance(e, AlertOnDuty) for e in effects)
        assert any(isinstance(e, MarkRisk) for e in effects)
        if mail.has_sender and not mail.bounce:
            crisis_mail = outgoing[0]
            assert isinstance(crisis_mail, CrisisReply) or (
                isinstance(crisis_mail, Acknowledge) and crisis_mail.crisis is mail.screening.risk
            )
    else:
        assert not any(isinstance(e, AlertOnDuty | MarkRisk | CrisisReply) for e in effects)
    if case is None and mail.has_sender and not (mail.bounce or mail.auto_reply or mail.forget):
        assert [type(e) for e in outgoing] == [Acknowledge]  # one acknowledgement per new thread
    assert sum(isinstance(e, OpenCase) for e in effects) == (
        1 if case is None and any(isinstance(e, StoreInbound) for e in effects) else 0
    )
    for effect in effects:
        if isinstance(effect, RelayToCounselor | AlertOnDuty):
            assert effect.text == mail.new_text
        if crisis:  # the alert reaches the people on duty; the case is not also offered as ordinary
            assert not isinstance(effect, OfferCase | QueueCase)


SURVEY_EVENTS = st.lists(
    st.one_of(
        st.builds(survey.Rated, st.integers(-2, 8)),
        st.builds(survey.Recommended, st.booleans()),
        st.builds(survey.Commented, st.text(max_size=1200)),
        st.just(survey.Skipped()),
        st.just(survey.Stopped()),
        st.just(survey.Expired()),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(events=SURVEY_EVENTS)
def test_survey_any_sequence_stores_at_most_one_valid_anonymous_answer(
    events: list[survey.SurveyEvent],
) -> None:
    state = survey.SurveyState("telegram", "2026-11")
    stored: list[survey.StoreSurveyAnswer] = []
    discarded = 0
    for event in events:
        state, effects = survey.step(state, event)
        assert state.name in survey.STATES
        stored += [e for e in effects if isinstance(e, survey.StoreSurveyAnswer)]
        discarded += sum(isinstance(e, survey.DiscardToken) for e in effects)
        if state.name == "done":
            assert discarded == 1  # the invitation is used up once it is done, and only once
    assert len(stored) <= 1
    for answer in stored:
        # channel and month only: nothing that points back at the employee or the case
        assert (answer.channel, answer.month) == ("telegram", "2026-11")
        assert answer.rating is None or 1 <= answer.rating <= 5
        assert answer.comment is None or 0 < len(answer.comment) <= survey.MAX_COMMENT
        assert (answer.rating, answer.recommend, answer.comment) != (None, None, None)
