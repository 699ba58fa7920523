"""Names from files shown literally: never parsed as markup, control characters escaped."""

from __future__ import annotations

from rich.text import Text


def printable(text: object) -> str:
    """``text`` with control characters escaped (``\\x1b`` shown as ``\\x1b``)."""
    s = str(text)
    if s.isprintable():
        return s
    out = []
    for ch in s:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def literal(text: object, style: str = "") -> Text:
    """A rich Text that is never interpreted as markup."""
    return Text(printable(text), style=style)
