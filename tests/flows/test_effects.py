"""The one closed effect type and its delivery order: crisis reply, then alerts, then the rest."""

from __future__ import annotations

import typing
from datetime import datetime

from hotline.domain import NO_RISK, Risk, Screening
from hotline.flows import booking_vocab as bk
from hotline.flows import intake, mailcase
from hotline.flows import survey as sv
from hotline.flows import vocabulary as v
from hotline.flows.effects import AnyEffect, Urgency, in_delivery_order, urgency
from hotline.sandbox.stage import OPEN_HOURS

CRISIS = Screening(Risk.IMMINENT, ("plan.jump",))
AT = OPEN_HOURS

ONE_OF_EACH: tuple[AnyEffect, ...] = (
    v.Reply("crisis.imminent"), v.Reply("intake.ack"), v.RecordContact("notice"), v.OpenCase(None),
    v.StoreInbound("…", CRISIS), v.OfferCase(), v.QueueCase(AT), v.RelayToCounselor("…"), v.MarkRisk(CRISIS), v.MarkInbound(CRISIS),
    v.AlertOnDuty(CRISIS, "…"), v.WithdrawCase(), v.NotifyCounselor("counselor.employee_left"),
    v.ShowMyData(), v.ForgetMe(),
    mailcase.StartReplyWindow(AT, AT), mailcase.Acknowledge(AT), mailcase.Acknowledge(AT, Risk.ELEVATED),
    mailcase.Reopen(), mailcase.CrisisReply(Risk.ELEVATED), mailcase.ExplainForget(), mailcase.ForgetSender(),
    mailcase.FlagForHuman("bounce"), mailcase.KeepOnly(),
    bk.TellEmployee("booking.x"), bk.TellCounselor("booking.y"), bk.OfferFreeSlots(), bk.HoldSlot(1),
    bk.ReleaseSlot(1), bk.RevealIdentity(9001, AT), bk.ScheduleReminder(AT), bk.CancelReminder(),
    bk.KeepPrivateReason("declined", "…"), bk.RecordNoShow(1), sv.InviteSurvey("telegram", AT),
    sv.MarkCaseInvited(), sv.IssueToken(sv.SurveyState("telegram", "2026-11")),
    sv.StoreSurveyAnswer("telegram", "2026-11", 5, True, None), sv.DiscardToken(),
)  # fmt: skip


def test_every_effect_type_has_an_urgency() -> None:
    assert {type(e) for e in ONE_OF_EACH} == set(typing.get_args(AnyEffect)), "a sample of every effect"
    crisis_first = {e for e in ONE_OF_EACH if urgency(e) is Urgency.CRISIS_REPLY}
    assert crisis_first == {
        v.Reply("crisis.imminent"),
        mailcase.CrisisReply(Risk.ELEVATED),
        mailcase.Acknowledge(AT, Risk.ELEVATED),
    }
    assert [e for e in ONE_OF_EACH if urgency(e) is Urgency.ALERT] == [v.AlertOnDuty(CRISIS, "…")]


def test_delivery_order_is_by_rule_not_by_position() -> None:
    # A flow that put its alert and a routine reply before the crisis reply still gets it out first.
    emitted = ["relay", "alert", "ack", "crisis", "notify"]
    ranks = [Urgency.ROUTINE, Urgency.ALERT, Urgency.ROUTINE, Urgency.CRISIS_REPLY, Urgency.ROUTINE]
    assert in_delivery_order(list(zip(ranks, emitted, strict=True))) == [
        "crisis", "alert", "relay", "ack", "notify",
    ]  # fmt: skip


def test_the_intake_crisis_path_ranks_its_reply_first() -> None:
    ctx = v.Context(datetime(2026, 11, 25, 10, tzinfo=AT.tzinfo), True, AT)
    _, effects = intake.step(intake.IntakeState(), v.Said("想從頂樓跳下去", CRISIS), ctx)
    first = in_delivery_order([(urgency(e), e) for e in reversed(effects)])
    assert first[0] == v.Reply("crisis.imminent") and isinstance(first[1], v.AlertOnDuty)
    _, calm = intake.step(intake.IntakeState(), v.Said("你好", NO_RISK), ctx)
    assert all(urgency(e) is Urgency.ROUTINE for e in calm)
