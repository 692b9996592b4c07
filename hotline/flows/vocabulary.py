"""Events into the flows and effects out of them: plain frozen data, channel-neutral.

Adapters (bot/, mailbox/) turn what arrives into an :class:`Event`; runners turn each :class:`Effect`
into Bot API calls, mail, rows and timers. Buttons carry opaque ``data`` strings that come back as
:class:`Pressed` events; texts are message keys in ``config/messages.zh-TW.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hotline.domain import Category, Outcome, Screening


@dataclass(frozen=True, slots=True)
class Button:
    key: str  # message key of the label
    data: str  # opaque callback data, comes back as Pressed(data)


# ---- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Said:
    """The employee wrote text (already screened)."""

    text: str
    screening: Screening


@dataclass(frozen=True, slots=True)
class Pressed:
    """The employee pressed a button."""

    data: str


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command (name without the slash, lower case)."""

    name: str


@dataclass(frozen=True, slots=True)
class Unsupported:
    """Something the line cannot read: a sticker, photo, voice note, file ..."""

    kind: str


@dataclass(frozen=True, slots=True)
class CaseClaimed:
    """A counselor took the employee's case."""


@dataclass(frozen=True, slots=True)
class CaseReleased:
    """The counselor handed the case back to the queue (transfer)."""


@dataclass(frozen=True, slots=True)
class CaseEnded:
    """The counselor ended the case with an outcome."""

    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Rescreened:
    """The learned layer's verdict on the employee's last text came after the reply budget and found more
    than the lexicon's screening the flow had with it (as :class:`Said`): the crisis path now, or a
    higher priority. The text already had its ``Said``: kept in the case (and relayed) if that put it
    there, and never kept or relayed twice."""

    text: str
    screening: Screening


Event = Said | Pressed | Command | Unsupported | CaseClaimed | CaseReleased | CaseEnded | Rescreened


@dataclass(frozen=True, slots=True)
class Context:
    """What a flow may know about the world: the time and whether the line is open."""

    now: datetime
    in_service_hours: bool
    next_opening: datetime
    case_code: str | None = None


# ---- effects ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """Send a message to the employee."""

    key: str
    buttons: tuple[Button, ...] = ()
    params: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True, slots=True)
class RecordContact:
    """Count a contact that did not become a case (nothing else about it is stored)."""

    kind: str


@dataclass(frozen=True, slots=True)
class OpenCase:
    """Open a case for the employee (the runner assigns the code)."""

    category: Category | None


@dataclass(frozen=True, slots=True)
class StoreInbound:
    """Keep the employee's text in the case."""

    text: str
    screening: Screening


@dataclass(frozen=True, slots=True)
class MarkInbound:
    """The employee's last text kept in the case gets a later, higher screening (:class:`Rescreened`)."""

    screening: Screening


@dataclass(frozen=True, slots=True)
class OfferCase:
    """Show the case card to on-duty counselors (inside service hours)."""


@dataclass(frozen=True, slots=True)
class QueueCase:
    """Keep the case waiting until the line opens; offer it then."""

    opens_at: datetime


@dataclass(frozen=True, slots=True)
class RelayToCounselor:
    """Pass the employee's text to the counselor holding the case."""

    text: str


@dataclass(frozen=True, slots=True)
class MarkRisk:
    """Raise the case's risk (never lowers it)."""

    screening: Screening


@dataclass(frozen=True, slots=True)
class AlertOnDuty:
    """Crisis alert to every on-duty counselor (supervisors when nobody is on duty)."""

    screening: Screening
    text: str


@dataclass(frozen=True, slots=True)
class WithdrawCase:
    """The employee withdrew a waiting case or left an active one."""

    by_employee: bool = True


@dataclass(frozen=True, slots=True)
class NotifyCounselor:
    """Tell the counselor holding the case something (message key)."""

    key: str


@dataclass(frozen=True, slots=True)
class ShowMyData:
    """Tell the employee what is stored about them (``/mydata``)."""


@dataclass(frozen=True, slots=True)
class ForgetMe:
    """Erase the employee's contact data and the content of their cases (``/forget``, confirmed)."""


Effect = (
    Reply
    | RecordContact
    | OpenCase
    | StoreInbound
    | MarkInbound
    | OfferCase
    | QueueCase
    | RelayToCounselor
    | MarkRisk
    | AlertOnDuty
    | WithdrawCase
    | NotifyCounselor
    | ShowMyData
    | ForgetMe
)


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of one flow step."""

    state: str
    effects: tuple[Effect, ...] = field(default_factory=tuple)
