"""One whole conversation on a stage, with unique markers to look for afterwards."""

from __future__ import annotations

from dataclasses import dataclass

from hotline.sandbox.stage import Stage
from tests.tests_support import COUNSELOR, consent_and_area


@dataclass(frozen=True)
class Person:
    id: int
    first_name: str
    last_name: str
    username: str


EMPLOYEE = Person(777123987, "Meixiuzz", "Linqqz", "mei_hidden_handle_zq")
MARKER = "QZX-MARKER-4c1e"
WORDS = (
    f"{MARKER} 我跟主管的衝突已經影響睡眠",
    f"{MARKER}-2 我覺得撐不下去了，不想活了",  # a crisis: the alert path stores and sends too
    f"{MARKER}-3 謝謝你",
)
COUNSELOR_WORDS = f"{MARKER}-C 我在，慢慢說"
NOTE = f"{MARKER}-N 評估轉介面談"


async def converse(stage: Stage) -> list[str]:
    """Intake, claim, relay both ways, a crisis message, a note, the end. Returns what the employee said."""
    emu = stage.emu
    mei = emu.user(EMPLOYEE.id, EMPLOYEE.first_name, last_name=EMPLOYEE.last_name, username=EMPLOYEE.username)
    wang = emu.user(COUNSELOR, "Wang")
    await stage.say(wang, "/onduty", containing="已開始值班")
    await consent_and_area(stage, mei, "area:work_stress")
    mark = emu.mark()
    await stage.say(mei, WORDS[0], containing="案件代號")
    card = await stage.next_message(COUNSELOR, since=mark, containing="工作壓力")
    code = card.button_data[0].removeprefix("claim:")
    await stage.press(wang, card, card.button_data[0], expect=EMPLOYEE.id, containing="接手")
    await stage.say(wang, COUNSELOR_WORDS, expect=EMPLOYEE.id)
    await stage.say(mei, WORDS[1], expect=COUNSELOR, containing=MARKER + "-2")
    await stage.say(mei, WORDS[2], expect=COUNSELOR, containing=MARKER + "-3")
    await stage.say(wang, "/note " + NOTE, containing="已記錄")
    choose = await stage.say(wang, "/end", containing="結案結果")
    await stage.press(wang, choose, f"end:{code}:resolved", expect=EMPLOYEE.id, containing="已結束")
    return [*WORDS, COUNSELOR_WORDS, NOTE]


def forbidden() -> list[str]:
    """Strings that must never be found at rest or in logs."""
    return [
        MARKER,
        EMPLOYEE.first_name,
        EMPLOYEE.last_name,
        EMPLOYEE.username,
        str(EMPLOYEE.id),
        "主管的衝突",
    ]
