"""The one effect executor (hotline/executor.py): every effect type is matched once, each context executes
every effect its flow emits, an unexpected one is refused, and mypy fails on an effect nobody executes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import UnionType
from typing import get_args

import pytest

import hotline
from hotline.bot.booking_effects import BookingEffects
from hotline.bot.survey import _Answer, _Invite
from hotline.executor import EffectContext, UnexpectedEffect, execute
from hotline.flows import mailcase
from hotline.flows.booking_vocab import BookingEffect
from hotline.flows.effects import AnyEffect
from hotline.flows.mailcase import KeepOnly, MailEffect
from hotline.flows.survey import AnswerEffect, InviteEffect
from hotline.flows.vocabulary import Effect
from hotline.intake_effects import IntakeEffects
from hotline.station.mail_effects import MailEffects

ROOT = Path(hotline.__file__).parent.parent

# Each context and the union of the effects its flow emits.
CONTEXTS: list[tuple[type[EffectContext], UnionType]] = [
    (IntakeEffects, Effect),
    (MailEffects, MailEffect),
    (BookingEffects, BookingEffect),
    (_Invite, InviteEffect),
    (_Answer, AnswerEffect),
]


def method_name(effect_type: type) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", effect_type.__name__).lower()


def test_every_effect_type_has_a_method_of_the_port() -> None:
    effect_types = get_args(AnyEffect)
    assert len(effect_types) > 30
    missing = [t.__name__ for t in effect_types if not hasattr(EffectContext, method_name(t))]
    assert missing == []


@pytest.mark.parametrize(("context", "union"), CONTEXTS, ids=lambda x: getattr(x, "__name__", ""))
def test_each_context_executes_every_effect_of_its_flow(
    context: type[EffectContext], union: UnionType
) -> None:
    types = get_args(union)
    assert types
    not_executed = [
        t.__name__
        for t in types
        if getattr(context, method_name(t)) is getattr(EffectContext, method_name(t))
    ]
    assert not_executed == []


async def test_an_effect_a_context_does_not_expect_is_refused_not_dropped() -> None:
    with pytest.raises(UnexpectedEffect, match="KeepOnly"):
        await execute([KeepOnly()], EffectContext())


async def test_a_stopped_run_executes_nothing_after_the_effect_that_stopped_it() -> None:
    done: list[str] = []

    class Stops(EffectContext):
        async def keep_only(self, effect: KeepOnly) -> None:
            done.append("keep")
            self.stopped = True

        async def flag_for_human(self, effect: mailcase.FlagForHuman) -> None:
            done.append("flag")

    assert await execute([KeepOnly(), mailcase.FlagForHuman("x")], Stops()) is False
    assert done == ["keep"]


def test_mypy_fails_when_a_new_effect_is_added_and_not_executed(tmp_path: Path) -> None:
    """A new effect type in AnyEffect (with its urgency) that the executor does not match: mypy --strict
    names the executor's assert_never. The real effects module is shadowed by the changed copy."""
    effects = ROOT / "hotline" / "flows" / "effects.py"
    text = effects.read_text(encoding="utf-8")
    union = "AnyEffect = Effect | MailEffect | BookingEffect | SurveyEffect"
    survey_case = "        case MarkCaseInvited() | IssueToken()"
    assert union in text and survey_case in text
    text = text.replace(
        union,
        "from dataclasses import dataclass\n\n\n@dataclass(frozen=True)\nclass NewEffect:\n    pass\n\n\n"
        + union
        + " | NewEffect",
    ).replace(survey_case, "        case NewEffect():\n            return Urgency.ROUTINE\n" + survey_case)
    shadow = tmp_path / "effects.py"
    shadow.write_text(text, encoding="utf-8")
    # Incremental from a copy of the project's cache (`make typecheck` has just filled it): only the
    # shadowed module and what depends on it are checked again, and the project's cache is not touched.
    cache = tmp_path / "c"
    if (ROOT / ".mypy_cache").is_dir():
        shutil.copytree(ROOT / ".mypy_cache", cache)
    command = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache)]
    executor = str(Path("hotline") / "executor.py")
    clean = subprocess.run([*command, executor], cwd=ROOT, capture_output=True, text=True, check=False)
    assert clean.returncode == 0, clean.stdout
    shadowed = subprocess.run(
        [*command, executor, "--shadow-file", str(Path("hotline") / "flows" / "effects.py"), str(shadow)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shadowed.returncode == 1
    assert re.search(r"hotline/executor\.py:\d+: error: .*assert_never.*NewEffect", shadowed.stdout), (
        shadowed.stdout
    )
