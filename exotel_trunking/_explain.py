"""``explain(code)``: what a SIP response code, an Exotel error code or a topic means.

The table is data (``explanations.toml`` in this package), read once on first use.
"""

from __future__ import annotations

import functools
import tomllib
from importlib.resources import files
from typing import Any, Literal

import attrs

__all__ = ["Explanation", "explain", "explanations"]

Kind = Literal["sip", "exotel", "topic"]
#: Exotel's error codes start here; anything below is a SIP response code.
_FIRST_EXOTEL_CODE = 1000


@attrs.frozen
class Explanation:
    """What a code means, its likely cause and the fix.

    Attributes:
        code: The code as looked up (``"488"``, ``"1002"``, ``"one_way_audio"``).
        kind: ``"sip"`` (a SIP response), ``"exotel"`` (an API error code) or ``"topic"``
            (a troubleshooting row no single code names).
        title: The code's name (``"Not Acceptable Here"``).
        meaning: What it means (for an Exotel code, in the reference's dialect).
        cause: The likely cause.
        fix: What to do.
        live: What the live service means by the code, where that differs.
    """

    code: str
    kind: Kind
    title: str
    meaning: str
    cause: str
    fix: str
    live: str | None = None


@functools.cache
def explanations() -> dict[tuple[Kind, str], Explanation]:
    """Every explanation, by kind and code (read from ``explanations.toml`` once)."""
    table: dict[str, dict[str, dict[str, Any]]] = tomllib.loads(
        files(__package__).joinpath("explanations.toml").read_text(encoding="utf-8")
    )
    kinds: tuple[Kind, ...] = ("sip", "exotel", "topic")
    return {
        (kind, code): Explanation(code=code, kind=kind, **fields)
        for kind in kinds
        for code, fields in table.get(kind, {}).items()
    }


def explain(code: int | str) -> Explanation | None:
    """Describe a SIP response code (``488``), an Exotel error code (``1002``) or a topic.

    Topics are the troubleshooting rows no single code names: ``"one_way_audio"``,
    ``"tls_handshake_failed"``, ``"registration_timeout"``, ``"fqdn_outbound"``.

    Returns:
        The explanation, or ``None`` for a code the reference does not describe.
    """
    text = str(code).strip().lower()
    if isinstance(code, bool) or not text:
        return None
    if text.isascii() and text.isdigit():
        kind: Kind = "exotel" if int(text) >= _FIRST_EXOTEL_CODE else "sip"
        return explanations().get((kind, str(int(text))))
    return explanations().get(("topic", text.replace("-", "_").replace(" ", "_")))
