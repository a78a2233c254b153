"""What each recording in shared/audio/commands asks for (from transcripts.tsv), as (intent, args).

``None`` = not a command: the dialogue treats it as chat. wake.wav is the wake word alone → greeting;
long.wav is a statement (a summary being read), the enrolment phrases are read-aloud sentences.
"""

from datetime import date

# The relative day in broadcast_alt ("昨天") is checked against this fixed "today".
TODAY = date(2024, 11, 22)

EXPECTED: dict[str, tuple[str | None, dict[str, str]]] = {
    "wake.wav": ("greeting", {}),
    "broadcast.wav": ("broadcast", {}),
    "broadcast_alt.wav": ("broadcast", {"day": "2024-11-21"}),
    "drill_business.wav": ("drill_down", {"kind": "business"}),
    "drill_event.wav": ("drill_down", {"kind": "event"}),
    "drill_audit.wav": ("drill_down", {"kind": "audit"}),
    "correlate.wav": ("drill_down", {"kind": "correlate"}),
    "rollback_yes.wav": ("rollback_confirm", {}),
    "rollback_no.wav": ("rollback_deny", {}),
    "enroll.wav": ("enroll_voiceprint", {}),
    "chat.wav": (None, {}),
    "alerts.wav": ("alerts", {}),
    "long.wav": (None, {}),
    "enroll_phrase_1.wav": (None, {}),
    "enroll_phrase_2.wav": (None, {}),
    "enroll_phrase_3.wav": (None, {}),
}


def intent_ok(expected: tuple[str | None, dict[str, str]], got) -> bool:
    """``got`` is an Intent or None; expected args must be present with the same values."""
    name, args = expected
    if name is None:
        return got is None or got.name == "chat"
    return got is not None and got.name == name and all(got.args.get(k) == v for k, v in args.items())
