"""The anonymous satisfaction survey after a case (chat, e-mail or face-to-face session), pure.

    rating --rate 1-5 / skip--> recommend --yes/no / skip--> comment --text / skip--> done
    any question --stop (no thanks) / expired--> done

Every step can be skipped, the whole survey declined or abandoned (the runner steps :class:`Expired` when
the token's month is over, see below). Whatever was answered is stored once, at ``done``, as one
:class:`StoreSurveyAnswer` holding channel and month (never the area); nothing is stored when nothing was
answered.

Invitation, once per case
-------------------------
A case-ending flow emits :class:`InviteSurvey`. The runner calls :func:`invite` with the case's
``survey_invited`` flag; it returns no effects when the flag is set, otherwise :class:`MarkCaseInvited`
and :class:`IssueToken`. The runner carries both out in ONE transaction: ``UPDATE cases SET
survey_invited = true WHERE id = :id AND NOT survey_invited`` (continue only if one row changed, so two
concurrent endings cannot both invite), then draws a token (``secrets.token_urlsafe(16)``), inserts
``survey_tokens(token_hash = hash_token(token), channel, month, state = "rating")``, counts the
invitation in ``survey_invitations(month, channel)`` and sends the invitation (key ``survey.invite`` with
:data:`RATING_BUTTONS`, whose data get ``":" + token`` appended). The flag on the case says only "was
invited"; the token row holds no case id, so neither side points at the other. A pressed button brings the
token back; the runner looks up ``hash_token(token)``, steps the flow from the row's :class:`SurveyState`,
saves the new state, and on :class:`DiscardToken` deletes the row: the token works once, so no one answers
twice. For the comment (free text, not a button) the runner keeps the token hash on the employee's
conversation row while the state is ``comment`` and clears it on ``done``: the only link, transient, never
in an answer. Screen that text like every inbound message; a crisis takes the crisis path and is not
passed here as a comment.

Anonymous in fact, not only in schema (issue 17)
------------------------------------------------
An answer is first held sealed (encrypted, no readable column: ``survey_pending``) until its month is
over. Then the month's invitations per channel are known, and :func:`hotline.flows.survey_release.recode`
decides, for the whole month at once, which channels are kept and which are merged (``"merged"``) so that
every stored answer's channel and month match at least 5 invited cases; a month with fewer than 5
invitations in all keeps no answer. Only then is the answer written to ``survey_answers``; the report
reads nothing else. Deciding per month, not per answer, is what keeps a merged answer from being singled
out by elimination ("merged" means the same channels for every answer of the month).

``survey_answers``: ``id`` CHAR(32) random (uuid4().hex, no autoincrement: ids must not reveal order),
``channel`` (a channel or ``"merged"``), ``month`` "YYYY-MM" (Asia/Taipei), ``rating`` 1..5 or null,
``recommend`` or null, ``comment_enc`` (encrypted at rest). No foreign key, no timestamps, no employee or
case column; on SQLite ``WITHOUT ROWID`` so the physical order follows the random key.

``survey_tokens`` (open invitations): ``token_hash CHAR(64) primary key`` (sha-256 hex), ``channel``,
``month``, ``state VARCHAR(16)``, ``rating SMALLINT null``, ``recommend BOOLEAN null``; no case id, no
timestamps. Rows of months before the previous month are stepped with :class:`Expired` (storing partial
answers) and deleted by a monthly sweep. ``cases.survey_invited BOOLEAN`` (and the same on bookings for
face-to-face sessions) prevents a second invitation.

Residual risks, the operator's to handle: a comment that names its writer (comments are read only by the
EAP office, never reported); an open invitation's row (channel, month and the answers so far, until it is
answered or swept) while the employee is still answering; a DBA reading PostgreSQL's physical row order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from transitions import Machine

from hotline.flows import machine
from hotline.flows.vocabulary import Button, Reply

TAIPEI = ZoneInfo("Asia/Taipei")
CHANNELS = ("telegram", "line", "email", "face_to_face")
STATES = ("rating", "recommend", "comment", "done")
MAX_COMMENT = 1000

RATE_PREFIX = "sv:rate:"
RECOMMEND_YES = "sv:rec:yes"
RECOMMEND_NO = "sv:rec:no"
SKIP = "sv:skip"
STOP = "sv:stop"
_SKIP_STOP = (Button("survey.button.skip", SKIP), Button("survey.button.stop", STOP))
RATING_BUTTONS = (*(Button(f"survey.button.rate_{n}", f"{RATE_PREFIX}{n}") for n in range(1, 6)), *_SKIP_STOP)
RECOMMEND_BUTTONS = (
    Button("survey.button.recommend_yes", RECOMMEND_YES),
    Button("survey.button.recommend_no", RECOMMEND_NO),
    *_SKIP_STOP,
)
COMMENT_BUTTONS = _SKIP_STOP


def month_of(moment: datetime, zone: ZoneInfo = TAIPEI) -> str:
    """``"YYYY-MM"`` of an aware moment in the service's zone: the finest time a survey answer keeps."""
    local = moment.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def hash_token(token: str) -> str:
    """What ``survey_tokens`` stores instead of the token itself (sha-256, hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SurveyState:
    """An open invitation and the answers given so far; stored under the token's hash."""

    channel: str
    month: str
    name: str = "rating"
    rating: int | None = None
    recommend: bool | None = None


# ---- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rated:
    stars: int


@dataclass(frozen=True, slots=True)
class Recommended:
    yes: bool


@dataclass(frozen=True, slots=True)
class Commented:
    text: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """Skip the current question."""


@dataclass(frozen=True, slots=True)
class Stopped:
    """No thanks: end the survey now (what was answered is still stored)."""


@dataclass(frozen=True, slots=True)
class Expired:
    """The runner's sweep: the invitation is over (no message to anyone)."""


SurveyEvent = Rated | Recommended | Commented | Skipped | Stopped | Expired


def event_for_button(data: str) -> SurveyEvent | None:
    """The event of a survey button's data (without the token suffix); None when it is not one."""
    if data.startswith(RATE_PREFIX) and data.removeprefix(RATE_PREFIX).isdigit():
        return Rated(int(data.removeprefix(RATE_PREFIX)))
    events: dict[str, SurveyEvent] = {
        RECOMMEND_YES: Recommended(True),
        RECOMMEND_NO: Recommended(False),
        SKIP: Skipped(),
        STOP: Stopped(),
    }
    return events.get(data)


# ---- effects --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InviteSurvey:
    """Emitted by a flow that ends a case; the runner passes it to :func:`invite`."""

    channel: str
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class MarkCaseInvited:
    """Set the case's ``survey_invited`` flag (conditionally: only if it was not set)."""


@dataclass(frozen=True, slots=True)
class IssueToken:
    """Draw a token, store its hash with this initial state, send ``survey.invite`` with the buttons."""

    state: SurveyState
    key: str = "survey.invite"
    buttons: tuple[Button, ...] = RATING_BUTTONS


@dataclass(frozen=True, slots=True)
class StoreSurveyAnswer:
    """One answer: channel and month (the storage keeps them only as far as they hide the employee among
    5 or more; see :mod:`hotline.flows.survey_release`); every answer optional."""

    channel: str
    month: str
    rating: int | None
    recommend: bool | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class DiscardToken:
    """Delete the token row (the invitation is used up)."""


AnswerEffect = Reply | StoreSurveyAnswer | DiscardToken  # what :func:`step` emits
InviteEffect = MarkCaseInvited | IssueToken  # what :func:`invite` emits
SurveyEffect = AnswerEffect | InviteEffect


def invite(case_invited: bool, event: InviteSurvey, zone: ZoneInfo = TAIPEI) -> list[InviteEffect]:
    """The invitation for a case that ended; nothing when the case was invited already."""
    if case_invited:
        return []
    if event.channel not in CHANNELS:
        raise ValueError(f"unknown survey channel {event.channel!r}")
    return [
        MarkCaseInvited(),
        IssueToken(SurveyState(event.channel, month_of(event.ended_at, zone))),
    ]


# ---- the machine ----------------------------------------------------------------------------------


@dataclass
class _Model:
    state: str = "rating"
    survey: SurveyState | None = None
    event: SurveyEvent | None = None
    effects: list[AnswerEffect] = field(default_factory=list)

    def reply(self, key: str, buttons: tuple[Button, ...] = ()) -> None:
        self.effects.append(Reply(key, buttons))

    def _set(self, **changes: Any) -> None:
        assert self.survey is not None
        self.survey = replace(self.survey, **changes)

    def valid_rating(self) -> bool:
        return isinstance(self.event, Rated) and 1 <= self.event.stars <= 5

    def rated(self) -> None:
        assert isinstance(self.event, Rated)
        self._set(rating=self.event.stars)
        self.ask_recommend()

    def ask_recommend(self) -> None:
        self.reply("survey.ask_recommend", RECOMMEND_BUTTONS)

    def recommended(self) -> None:
        assert isinstance(self.event, Recommended)
        self._set(recommend=self.event.yes)
        self.ask_comment()

    def ask_comment(self) -> None:
        self.reply("survey.ask_comment", COMMENT_BUTTONS)

    def finish(self) -> None:
        assert self.survey is not None
        comment: str | None = None
        if isinstance(self.event, Commented):
            comment = self.event.text.strip()[:MAX_COMMENT] or None
        s = self.survey
        answered = s.rating is not None or s.recommend is not None or comment is not None
        if answered:
            self.effects.append(StoreSurveyAnswer(s.channel, s.month, s.rating, s.recommend, comment))
        self.effects.append(DiscardToken())
        if not isinstance(self.event, Expired):
            self.reply("survey.thanks" if answered else "survey.no_thanks")

    def prompt(self) -> None:
        if self.state == "rating":
            self.reply("survey.ask_rating", RATING_BUTTONS)
        elif self.state == "recommend":
            self.ask_recommend()
        else:
            self.ask_comment()

    def stale(self) -> None:
        self.reply("survey.stale")
        self.prompt()

    def already_done(self) -> None:
        self.reply("survey.already_done")


_OPEN = ["rating", "recommend", "comment"]
TRANSITIONS: list[dict[str, Any]] = [
    {
        "trigger": "rate",
        "source": "rating",
        "dest": "recommend",
        "conditions": "valid_rating",
        "after": "rated",
    },
    {"trigger": "skip", "source": "rating", "dest": "recommend", "after": "ask_recommend"},
    {"trigger": "recommend", "source": "recommend", "dest": "comment", "after": "recommended"},
    {"trigger": "skip", "source": "recommend", "dest": "comment", "after": "ask_comment"},
    {"trigger": "comment", "source": "comment", "dest": "done", "after": "finish"},
    {"trigger": "skip", "source": "comment", "dest": "done", "after": "finish"},
    {"trigger": "stop", "source": _OPEN, "dest": "done", "after": "finish"},
    {"trigger": "expire", "source": _OPEN, "dest": "done", "after": "finish"},
    # a button from an earlier question, an invalid rating, text where a button is expected
    {"trigger": "rate", "source": _OPEN, "dest": "=", "after": "stale"},
    {"trigger": "recommend", "source": _OPEN, "dest": "=", "after": "stale"},
    {"trigger": "comment", "source": _OPEN, "dest": "=", "after": "stale"},
    {"trigger": "rate", "source": "done", "dest": "=", "after": "already_done"},
    {"trigger": "recommend", "source": "done", "dest": "=", "after": "already_done"},
    {"trigger": "comment", "source": "done", "dest": "=", "after": "already_done"},
    {"trigger": "skip", "source": "done", "dest": "=", "after": "already_done"},
    {"trigger": "stop", "source": "done", "dest": "=", "after": "already_done"},
]

_TRIGGERS: dict[type, str] = {
    Rated: "rate",
    Recommended: "recommend",
    Commented: "comment",
    Skipped: "skip",
    Stopped: "stop",
    Expired: "expire",
}


def build_machine(model: object, **kwargs: Any) -> Machine:
    """The survey machine bound to ``model`` (also used to draw the diagram)."""
    return machine.build_machine(model, STATES, TRANSITIONS, "rating", **kwargs)


_MODEL = _Model()
_MACHINE = build_machine(_MODEL)


def step(state: SurveyState, event: SurveyEvent) -> tuple[SurveyState, list[AnswerEffect]]:
    """Apply one event to an open invitation; return the new state and the effects (no clock needed)."""
    model = _MODEL
    _MACHINE.set_state(state.name, model)
    model.survey = state
    model.event = event
    model.effects = []
    try:
        model.trigger(_TRIGGERS[type(event)])  # type: ignore[attr-defined]
        assert model.survey is not None
        return replace(model.survey, name=model.state), model.effects
    finally:
        model.survey = None
        model.event = None


__all__ = [
    "CHANNELS",
    "AnswerEffect",
    "InviteEffect",
    "InviteSurvey",
    "IssueToken",
    "MarkCaseInvited",
    "StoreSurveyAnswer",
    "SurveyEffect",
    "SurveyEvent",
    "SurveyState",
    "build_machine",
    "event_for_button",
    "hash_token",
    "invite",
    "month_of",
    "step",
]
