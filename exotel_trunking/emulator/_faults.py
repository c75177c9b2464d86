"""Injected faults: which kinds exist, probabilistic rules, scripted queues, and the choice.

A request first consumes a matching *script* ("the next two POSTs to this path answer 503");
only when none matches are the probabilistic *rules* consulted, with a single draw keyed on the
seed, the request and how many identical requests came before it (:class:`RequestDraws`). So a
seed and a set of calls fix every outcome, in whatever order concurrent calls arrive.

A rule or script may also shape its answer: ``headers`` are added to it (``Retry-After`` as an
HTTP date, a quota header), ``body`` replaces an error status's envelope, and ``seconds`` sets
how long a ``slow`` answer waits or a ``slow_body`` one pauses between bytes.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, get_args

import attrs

__all__ = [
    "FAULT_KINDS",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "NamedFault",
    "RequestDraws",
    "ScriptedFault",
    "check_kind",
    "error_status",
]

#: The named faults: ``ok`` (answered as usual, for ``headers=`` to shape), ``503`` envelope,
#: ``429`` with Retry-After, ``502_html`` proxy page,
#: connection dropped before or after the change is applied, ``slow`` (answer delayed past a
#: client's timeout), ``slow_body`` (the head at once, then the body a byte at a time),
#: ``refuse`` (the connection refused) and ``write_error`` (the connection broken while the
#: request was being sent); with these last two nothing reaches the API.
NamedFault = Literal[
    "ok",
    "503",
    "429",
    "502_html",
    "drop_before",
    "drop_after",
    "slow",
    "slow_body",
    "refuse",
    "write_error",
]
FAULT_KINDS: tuple[NamedFault, ...] = get_args(NamedFault)
#: A named fault, or any HTTP error status from ``"400"`` to ``"599"`` (answered with the
#: dialect's error envelope for that status, without applying the request).
FaultKind = NamedFault | str

_ACCOUNT_PREFIX = re.compile(r"^/v2/accounts/[^/]+(?=/|$)")


def error_status(kind: str) -> int | None:
    """The HTTP status an error-status fault answers (``"504"`` -> 504), else ``None``."""
    if len(kind) == 3 and kind.isascii() and kind.isdecimal() and 400 <= int(kind) <= 599:
        return int(kind)
    return None


def check_kind(value: object) -> FaultKind:
    """Return ``value`` if it names a fault kind or an HTTP error status.

    Raises:
        ValueError: If it does not.
    """
    for kind in FAULT_KINDS:
        if value == kind:
            return kind
    if isinstance(value, str) and error_status(value) is not None:
        return value
    raise ValueError(
        f"fault={value!r} is invalid: expected one of {', '.join(FAULT_KINDS)}, "
        "or an HTTP error status from '400' to '599'"
    )


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")
#: Headers that frame the answer: the front ends set them, a fault may not.
_FRAMING = frozenset({"content-length", "transfer-encoding"})


def _to_headers(value: object) -> tuple[tuple[str, str], ...]:
    """Headers as ``(name, value)`` pairs, from a mapping or pairs; names lower-cased.

    Raises:
        ValueError: For anything but well-formed names and Latin-1 values without control
            characters, or for a header that frames the answer (``Content-Length``).
    """
    items = value.items() if isinstance(value, Mapping) else value
    if not isinstance(items, Iterable) or isinstance(items, (str, bytes)):
        raise ValueError(f"headers={value!r} is invalid: expected a mapping of name to value")
    pairs = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValueError(f"headers={value!r} is invalid: expected (name, value) pairs")
        name, text = item
        if not isinstance(name, str) or not isinstance(text, str):
            raise ValueError(f"headers={value!r} is invalid: names and values must be str")
        if not _TOKEN.fullmatch(name) or name.lower() in _FRAMING:
            raise ValueError(
                f"headers: {name!r} is invalid: expected a header name (not Content-Length "
                "or Transfer-Encoding, which the emulator sets)"
            )
        if not _FIELD_VALUE.fullmatch(text) or not all(ord(char) < 256 for char in text):
            raise ValueError(
                f"headers: the value of {name!r} is invalid: expected Latin-1 text without "
                "line breaks or other control characters"
            )
        pairs.append((name.lower(), text))
    return tuple(pairs)


def _to_body(value: object) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise ValueError(f"body={value!r} is invalid: expected bytes, str or None")


def _to_seconds(value: object) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"seconds={value!r} is invalid: expected finite seconds >= 0 or None")
    return float(value)


#: Faults whose answer never leaves: no headers to add.
_UNANSWERED = frozenset({"drop_before", "drop_after", "refuse", "write_error"})


def _check_shape(fault: FaultRule | ScriptedFault) -> None:
    """Refuse an option the fault's kind would silently ignore.

    Raises:
        ValueError: ``body`` on a kind that is not an error status, ``seconds`` on one that is
            not ``slow`` or ``slow_body``, ``headers`` on one that sends no answer.
    """
    kind = fault.kind
    if fault.body is not None and error_status(kind) is None:
        raise ValueError(f"body= is invalid with fault {kind!r}: only an error status has one")
    if fault.seconds is not None and kind not in ("slow", "slow_body"):
        raise ValueError(f"seconds= is invalid with fault {kind!r}: only slow and slow_body wait")
    if fault.headers and kind in _UNANSWERED:
        raise ValueError(f"headers= is invalid with fault {kind!r}: it sends no answer")


def _check_probability(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name}={value!r} is invalid: expected 0.0 to 1.0")


def _upper_or_none(value: object) -> str | None:
    """An HTTP method, upper-cased; ``None`` or ``"*"`` for any.

    Raises:
        ValueError: For anything but a method name.
    """
    if value is None or value == "*":
        return None
    if not isinstance(value, str) or not value.isascii() or not value.isalpha():
        raise ValueError(f"method={value!r} is invalid: expected an HTTP method such as 'POST'")
    return value.upper()


def _path_or_none(value: object) -> str | None:
    """A path pattern; ``None`` for any.

    Raises:
        ValueError: For anything but a string starting with ``/``.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(
            f"path={value!r} is invalid: expected a path such as '/trunks/*/phone-numbers'"
        )
    return value


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    # '**' spans segments, '*' stays inside one; everything else is literal.
    parts = (re.escape(piece).replace(r"\*", "[^/]*") for piece in pattern.split("**"))
    return re.compile(".*".join(parts))


def path_matches(pattern: str | None, path: str) -> bool:
    """Whether ``path`` matches ``pattern``, as given or relative to ``/v2/accounts/{sid}``.

    ``*`` matches within one path segment and ``**`` across segments, so
    ``"/trunks/*/phone-numbers"`` matches ``/v2/accounts/acme/trunks/trind…/phone-numbers``.
    ``None`` matches every path.
    """
    if pattern is None:
        return True
    path = path.rstrip("/") or "/"
    compiled = _compile(pattern.rstrip("/") or "/")
    relative = _ACCOUNT_PREFIX.sub("", path) or "/"
    return bool(compiled.fullmatch(path) or compiled.fullmatch(relative))


@attrs.frozen
class FaultRule:
    """Inject ``kind`` into a share ``probability`` of the matching requests.

    Attributes:
        kind: The fault to inject.
        probability: 0.0 to 1.0.
        method: Only requests with this method (``None`` or ``"*"``: any).
        path: Only paths matching this pattern (see :func:`path_matches`; ``None``: any).
        headers: Added to the answer, replacing any of the same names.
        body: Replaces the envelope of an error-status answer.
        seconds: A ``slow`` answer's delay (default: the ``slow_seconds`` knob), or the pause
            between a ``slow_body`` answer's bytes (default: one second).
    """

    kind: FaultKind = attrs.field(converter=check_kind)
    probability: float = attrs.field(default=1.0, converter=float, validator=_check_probability)
    method: str | None = attrs.field(default=None, converter=_upper_or_none)
    path: str | None = attrs.field(default=None, converter=_path_or_none)
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_to_headers)
    body: bytes | None = attrs.field(default=None, converter=_to_body, repr=False)
    seconds: float | None = attrs.field(default=None, converter=_to_seconds)

    def __attrs_post_init__(self) -> None:
        _check_shape(self)

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request."""
        return (self.method is None or self.method == method) and path_matches(self.path, path)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return _json_ready(self)


@attrs.define
class ScriptedFault:
    """Inject ``kind`` into the next ``remaining`` matching requests.

    ``headers``, ``body`` and ``seconds`` shape the answer as for :class:`FaultRule`.
    """

    kind: FaultKind = attrs.field(converter=check_kind)
    method: str | None = attrs.field(default=None, converter=_upper_or_none)
    path: str | None = attrs.field(default=None, converter=_path_or_none)
    remaining: int = 1
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_to_headers)
    body: bytes | None = attrs.field(default=None, converter=_to_body, repr=False)
    seconds: float | None = attrs.field(default=None, converter=_to_seconds)

    def __attrs_post_init__(self) -> None:
        _check_shape(self)

    def matches(self, method: str, path: str) -> bool:
        """Whether this script applies to a request (and still has uses left)."""
        return (
            self.remaining > 0
            and (self.method is None or self.method == method)
            and path_matches(self.path, path)
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return _json_ready(self)


#: A fault as :meth:`FaultPlan.choose` picks it: a rule or a script, with its answer's shape.
Fault = FaultRule | ScriptedFault


def _json_ready(fault: Fault) -> dict[str, Any]:
    data = attrs.asdict(fault)
    data["headers"] = dict(fault.headers)
    data["body"] = None if fault.body is None else fault.body.decode("utf-8", "replace")
    return data


class FaultPlan:
    """The configured rules and scripts, and the choice of a fault for each request."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self.scripts: list[ScriptedFault] = []

    def __repr__(self) -> str:
        return f"FaultPlan(rules={self.rules!r}, scripts={self.scripts!r})"

    def choose(self, method: str, path: str, draw: Callable[[], float]) -> Fault | None:
        """Pick the fault for one request, consuming a script use if one matches.

        ``draw`` returns a number in [0, 1); it is called only when a rule matches.
        """
        for script in self.scripts:
            if script.matches(method, path):
                script.remaining -= 1
                if script.remaining == 0:
                    self.scripts.remove(script)
                return script
        matching = [rule for rule in self.rules if rule.matches(method, path)]
        if not matching:
            return None  # no draw: adding no faults must not shift the seeded sequence
        # One draw over the stacked probabilities: {"503": 0.1, "429": 0.05} means 10 % of
        # requests answer 503 and a further 5 % answer 429, never both.
        value = draw()
        cumulative = 0.0
        for rule in matching:
            cumulative += rule.probability
            if value < cumulative:
                return rule
        return None

    def clear(self) -> None:
        """Remove every rule and script."""
        self.rules.clear()
        self.scripts.clear()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "rules": [rule.to_dict() for rule in self.rules],
            "scripts": [script.to_dict() for script in self.scripts],
        }


class RequestDraws:
    """Numbers in [0, 1) keyed on a seed, a request, and how many identical requests preceded it.

    A single random generator hands its numbers out in the order requests reach it, and
    concurrent requests reach the emulator in an order that changes from run to run (their
    latency ends, the client's scheduling): the same seed then put faults on different
    requests, and retries made the request counts differ too. Keyed draws give each request
    the same number whatever the interleaving, and a repeat of it (a retry) a fresh one.
    """

    def __init__(self, seed: int | None) -> None:
        # Seeded on purpose: reproducible faults; nothing here protects anything.
        salt = str(seed).encode() if seed is not None else secrets.token_bytes(16)
        self._salt = hashlib.blake2b(salt, digest_size=16).digest()
        self._seen: Counter[bytes] = Counter()

    def draw(self, method: str, path: str, query: str, body: bytes) -> float:
        """The number for this request (the n-th identical one gets the n-th number)."""
        key = hashlib.blake2b(key=self._salt, digest_size=16)
        for part in (method.encode(), path.encode(), query.encode(), body):
            key.update(len(part).to_bytes(8, "big") + part)
        identity = key.digest()
        repeat = self._seen[identity]
        self._seen[identity] = repeat + 1
        value = hashlib.blake2b(identity + repeat.to_bytes(8, "big"), digest_size=8).digest()
        return int.from_bytes(value, "big") / 2**64
