"""The employee's side of the Telegram line, as a state machine (transitions), pure.

    idle --start/any text--> consent --accept--> area --choose--> describe --text--> queued
    queued --claimed--> connected --ended--> idle;  /cancel leaves any state for idle.

Every text is screened before the flow sees it (:func:`step` takes the screening with the text); a crisis
takes the crisis path in every state, consent or not: the employee gets the crisis reply, a case is opened
when there is none, and on-duty counselors are alerted. A verdict that comes after the text was answered
(:class:`~hotline.flows.vocabulary.Rescreened`, the learned layer past the reply budget) takes the same
path for that text, or raises the case's priority, without keeping or relaying it a second time. The diagram in ``docs/flows/intake.mmd`` is
generated from this machine (``python -m hotline.flows.diagrams``) and checked by a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transitions import Machine

from hotline.domain import Category, Outcome, Risk
from hotline.flows import machine
from hotline.flows.vocabulary import (
    AlertOnDuty,
    Button,
    CaseClaimed,
    CaseEnded,
    CaseReleased,
    Command,
    Context,
    Effect,
    Event,
    ForgetMe,
    MarkInbound,
    MarkRisk,
    NotifyCounselor,
    OfferCase,
    OpenCase,
    Pressed,
    QueueCase,
    RecordContact,
    RelayToCounselor,
    Reply,
    Rescreened,
    Said,
    ShowMyData,
    StoreInbound,
    Unsupported,
    WithdrawCase,
)

STATES = ("idle", "consent", "area", "describe", "queued", "connected")
UNSTORED = ("idle", "consent")  # states that need no row for someone who never opened a case
PRE_CASE = ("idle", "consent", "area", "describe")
IN_CASE = ("queued", "connected")

FORGET = "forget:confirm"
KEEP = "forget:keep"
ACCEPT = "consent:accept"
DECLINE = "consent:decline"
AREA_PREFIX = "area:"

FORGET_BUTTONS = (Button("button.forget", FORGET), Button("button.keep", KEEP))
CONSENT_BUTTONS = (Button("button.accept", ACCEPT), Button("button.decline", DECLINE))
AREA_BUTTONS = tuple(Button(f"area.{c.value}", AREA_PREFIX + c.value) for c in Category)


@dataclass(frozen=True, slots=True)
class IntakeState:
    """Where an employee's conversation stands; stored per employee."""

    name: str = "idle"
    category: Category | None = None


@dataclass
class _Model:
    """The machine's model for one step: the event, context and effects collected."""

    state: str = "idle"
    category: Category | None = None
    ctx: Context | None = None
    event: Event | None = None
    effects: list[Effect] = field(default_factory=list)

    # -- helpers --------------------------------------------------------------------------------
    def reply(self, key: str, buttons: tuple[Button, ...] = (), **params: Any) -> None:
        self.effects.append(Reply(key, buttons, tuple(params.items())))

    def prompt(self) -> None:
        """Repeat what the current state is waiting for."""
        if self.state == "idle":
            self.reply("prompt.idle")
        elif self.state == "consent":
            self.reply("consent.notice", CONSENT_BUTTONS)
        elif self.state == "area":
            self.reply("area.choose", AREA_BUTTONS)
        elif self.state == "describe":
            self.reply("describe.prompt")
        elif self.state == "queued":
            self.reply("prompt.queued")
        else:
            self.reply("prompt.connected")

    # -- callbacks (named in the transition table) ----------------------------------------------
    def show_notice(self) -> None:
        self.reply("consent.notice", CONSENT_BUTTONS)

    def ask_area(self) -> None:
        self.reply("area.choose", AREA_BUTTONS)

    def declined(self) -> None:
        self.effects.append(RecordContact("consent_declined"))
        self.reply("consent.declined")

    def remember_area(self) -> None:
        assert isinstance(self.event, Pressed)
        self.category = Category(self.event.data.removeprefix(AREA_PREFIX))
        self.reply("describe.prompt", area=self.category)

    def open_case(self) -> None:
        assert isinstance(self.event, Said) and self.ctx is not None
        self.effects.append(OpenCase(self.category))
        self.effects.append(StoreInbound(self.event.text, self.event.screening))
        if self.ctx.in_service_hours:
            self.effects.append(OfferCase())
            self.reply("queued.in_hours")
        else:
            self.effects.append(QueueCase(self.ctx.next_opening))
            self.reply("queued.out_of_hours", opens_at=self.ctx.next_opening)

    def add_to_case(self) -> None:
        assert isinstance(self.event, Said)
        self.effects.append(StoreInbound(self.event.text, self.event.screening))
        self.reply("queued.received")

    def relay(self) -> None:
        assert isinstance(self.event, Said)
        self.effects.append(StoreInbound(self.event.text, self.event.screening))
        self.effects.append(RelayToCounselor(self.event.text))

    def use_buttons(self) -> None:
        self.reply("input.use_buttons")
        self.prompt()

    def stale_button(self) -> None:
        self.reply("input.stale_button")
        self.prompt()

    def explain_unsupported(self) -> None:
        self.reply("input.unsupported_connected" if self.state == "connected" else "input.unsupported")
        if self.state != "connected":
            self.prompt()

    def unknown_command(self) -> None:
        self.reply("input.unknown_command")
        self.prompt()

    def show_help(self) -> None:
        self.reply("help.text")
        self.prompt()

    def show_mydata(self) -> None:
        self.effects.append(ShowMyData())

    def ask_forget(self) -> None:
        self.reply("forget.explain", FORGET_BUTTONS)

    def forget_me(self) -> None:
        self.category = None
        self.effects.append(ForgetMe())

    def kept(self) -> None:
        self.reply("forget.kept")
        self.prompt()

    def nothing_to_cancel(self) -> None:
        self.reply("cancel.nothing")

    def cancelled(self) -> None:
        self.category = None
        self.reply("cancel.done")

    def withdraw(self) -> None:
        self.category = None
        self.effects.append(WithdrawCase())
        self.reply("cancel.case_withdrawn")

    def leave(self) -> None:
        self.category = None
        self.effects.append(WithdrawCase())
        self.effects.append(NotifyCounselor("counselor.employee_left"))
        self.reply("cancel.left_session")

    def told_claimed(self) -> None:
        self.reply("case.claimed")

    def told_released(self) -> None:
        self.reply("case.transferred")

    def told_ended(self) -> None:
        assert isinstance(self.event, CaseEnded)
        self.category = None
        self.reply(f"case.ended.{self.event.outcome.value}")

    def is_area_button(self) -> bool:
        if not isinstance(self.event, Pressed) or not self.event.data.startswith(AREA_PREFIX):
            return False
        return self.event.data.removeprefix(AREA_PREFIX) in Category._value2member_map_


_ALL = list(STATES)
TRANSITIONS: list[dict[str, Any]] = [
    # /start and free text at the door
    {"trigger": "start", "source": ["idle", "consent"], "dest": "consent", "after": "show_notice"},
    {"trigger": "start", "source": ["area", "describe", *IN_CASE], "dest": "=", "after": "prompt"},
    {"trigger": "write", "source": "idle", "dest": "consent", "after": "show_notice"},
    {"trigger": "write", "source": ["consent", "area"], "dest": "=", "after": "use_buttons"},
    {"trigger": "write", "source": "describe", "dest": "queued", "after": "open_case"},
    {"trigger": "write", "source": "queued", "dest": "=", "after": "add_to_case"},
    {"trigger": "write", "source": "connected", "dest": "=", "after": "relay"},
    # buttons
    # The notice's buttons also work from idle: "consent" is only what the screen shows, so nothing needs
    # to be written for someone who has only read the notice (DESIGN §5b: nothing before consent).
    {"trigger": "accept", "source": ["idle", "consent"], "dest": "area", "after": "ask_area"},
    {"trigger": "decline", "source": ["idle", "consent"], "dest": "idle", "after": "declined"},
    {
        "trigger": "choose",
        "source": "area",
        "dest": "describe",
        "conditions": "is_area_button",
        "after": "remember_area",
    },
    {"trigger": "stale", "source": _ALL, "dest": "=", "after": "stale_button"},
    # commands and odd input, in every state
    {"trigger": "help", "source": _ALL, "dest": "=", "after": "show_help"},
    {"trigger": "unknown", "source": _ALL, "dest": "=", "after": "unknown_command"},
    {"trigger": "unsupported", "source": _ALL, "dest": "=", "after": "explain_unsupported"},
    # the employee's rights, in every state: what is stored, and to be forgotten
    {"trigger": "mydata", "source": _ALL, "dest": "=", "after": "show_mydata"},
    {"trigger": "forget", "source": _ALL, "dest": "=", "after": "ask_forget"},
    {"trigger": "forget_confirm", "source": _ALL, "dest": "idle", "after": "forget_me"},
    {"trigger": "forget_keep", "source": _ALL, "dest": "=", "after": "kept"},
    {"trigger": "cancel", "source": "idle", "dest": "=", "after": "nothing_to_cancel"},
    {"trigger": "cancel", "source": ["consent", "area", "describe"], "dest": "idle", "after": "cancelled"},
    {"trigger": "cancel", "source": "queued", "dest": "idle", "after": "withdraw"},
    {"trigger": "cancel", "source": "connected", "dest": "idle", "after": "leave"},
    # the counselor's side
    {"trigger": "claimed", "source": "queued", "dest": "connected", "after": "told_claimed"},
    {"trigger": "released", "source": "connected", "dest": "queued", "after": "told_released"},
    {"trigger": "ended", "source": list(IN_CASE), "dest": "idle", "after": "told_ended"},
]


def build_machine(model: object, **kwargs: Any) -> Machine:
    """The intake machine bound to ``model`` (also used to draw the diagram)."""
    return machine.build_machine(model, STATES, TRANSITIONS, "idle", **kwargs)


_MODEL = _Model()
_MACHINE = build_machine(_MODEL)


def _trigger_for(event: Event) -> str:
    if isinstance(event, Said):
        return "write"
    if isinstance(event, Pressed):
        if event.data == ACCEPT:
            return "accept"
        if event.data == DECLINE:
            return "decline"
        if event.data == FORGET:
            return "forget_confirm"
        if event.data == KEEP:
            return "forget_keep"
        return "choose"
    if isinstance(event, Command):
        if event.name in {"start", "help", "cancel", "mydata", "forget"}:
            return event.name
        return "unknown"
    if isinstance(event, Unsupported):
        return "unsupported"
    if isinstance(event, CaseClaimed):
        return "claimed"
    if isinstance(event, CaseReleased):
        return "released"
    return "ended"


def _crisis(model: _Model, event: Said | Rescreened) -> None:
    """The crisis path: reply at once, make sure a case exists, mark it, alert the people on duty.
    A late verdict's text is already in the case (and relayed) when its ``Said`` left the flow in one."""
    screening = event.screening
    kept = isinstance(event, Rescreened) and model.state in IN_CASE
    key = "crisis.imminent" if screening.risk is Risk.IMMINENT else "crisis.elevated"
    model.reply(key)
    if model.state in PRE_CASE:
        model.effects.append(OpenCase(model.category))
        model.state = "queued"
    model.effects.append(MarkInbound(screening) if kept else StoreInbound(event.text, screening))
    model.effects.append(MarkRisk(screening))
    model.effects.append(AlertOnDuty(screening, event.text))
    if model.state == "connected" and not kept:
        model.effects.append(RelayToCounselor(event.text))


def _rescreened(model: _Model, event: Rescreened) -> None:
    """A late verdict that is no crisis (heavy distress): a text kept in the case marks it and raises the
    case's priority, as its ``Said`` would have; outside a case nothing was kept and nothing is done."""
    if model.state in IN_CASE:
        model.effects.append(MarkInbound(event.screening))
        model.effects.append(MarkRisk(event.screening))


def step(state: IntakeState, event: Event, ctx: Context) -> tuple[IntakeState, list[Effect]]:
    """Apply one event to an employee's conversation; return the new state and the effects."""
    model = _MODEL
    _MACHINE.set_state(state.name, model)
    model.category = state.category
    model.ctx = ctx
    model.event = event
    model.effects = []
    try:
        if isinstance(event, Said | Rescreened) and event.screening.is_crisis:
            _crisis(model, event)
        elif isinstance(event, Rescreened):
            _rescreened(model, event)
        else:
            trigger = _trigger_for(event)
            handled = model.trigger(trigger)  # type: ignore[attr-defined]
            if not handled and trigger in {"accept", "decline", "choose"}:
                model.trigger("stale")  # type: ignore[attr-defined]
        return IntakeState(model.state, model.category), model.effects
    finally:
        model.ctx = None
        model.event = None


__all__ = ["IntakeState", "Outcome", "build_machine", "step"]
