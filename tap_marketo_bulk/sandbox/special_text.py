"""Text values that break naive CSV writers/readers, shared by the lead and custom object data.

Its own module because both ``data`` (leads) and ``custom_objects`` put every one of these in
their records, and ``data`` builds the custom object data (importing each other would be circular).
"""

from __future__ import annotations

#: Strings that break naive CSV writers/readers; each is used at least once in lead data.
SPECIAL_STRINGS: list[str] = [
    "Smith, John",
    'He said "hello"',
    "line one\nline two",
    "carriage\rreturn",
    "windows\r\nline",
    "  leading and trailing  ",
    "rocket \U0001f680 party \U0001f389",
    "مرحبا بالعالم",
    "שלום עולם",
    'mix, of "all"\r\n kinds \U0001f600',
    "tab\tinside",
    "semi;colon",
    'ends with quote"',
]
LONG_TEXT: str = ('Lorem ipsum, "dolor" sit amet;\n' * 400)[:12000]
