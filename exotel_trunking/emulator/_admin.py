"""Admin endpoints under ``/_emulator/``: inspect and steer a running emulator over HTTP.

They need no credentials but answer only loopback clients (and in-process callers), are
never rate limited, delayed, faulted or logged, and answer plain JSON, not Exotel envelopes.

=========  ==================================  ===============================================
method     path                                does
=========  ==================================  ===============================================
GET        /_emulator                          lists these endpoints
GET        /_emulator/state                    the account's state (no SIP passwords)
GET        /_emulator/requests[?limit=N]       the request log, oldest first
GET        /_emulator/counters                 counters by status and fault, connections
GET|POST   /_emulator/knobs                    read / change knobs (JSON object; ``faults``
                                               replaces the probabilistic faults)
GET|POST   /_emulator/faults                   read / add one rule ``{kind, probability,
                                               method, path, headers, body, seconds}``
DELETE     /_emulator/faults                   remove every rule and script
POST       /_emulator/scripts                  ``{method, path, fault, times, headers, body,
                                               seconds}``
POST       /_emulator/reset                    ``{knobs: bool, faults: bool}`` (optional)
POST       /_emulator/trunks/{sid}/credentials issue SIP credentials for a trunk
=========  ==================================  ===============================================
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from ._errors import EmulatedError
from ._messages import EmulatedRequest, EmulatedResponse

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["ADMIN_PREFIX", "AdminApi", "is_admin_path"]

ADMIN_PREFIX = "/_emulator"


def is_admin_path(path: str) -> bool:
    """Whether ``path`` is an admin endpoint."""
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def _is_loopback(client: str | None) -> bool:
    if client is None:
        return True  # in process: the caller is this very program
    try:
        return ipaddress.ip_address(client).is_loopback
    except ValueError:
        return False


class _AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def _object(request: EmulatedRequest) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
        raise _AdminError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _AdminError(400, "the body must be a JSON object")
    return body


class AdminApi:
    """Answers the admin endpoints of one :class:`Emulator`."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        self._routes: dict[tuple[str, str], Callable[[EmulatedRequest], Any]] = {
            ("GET", ""): self._index,
            ("GET", "/state"): lambda _: self._emulator.snapshot(),
            ("GET", "/requests"): self._requests,
            ("GET", "/counters"): self._counters,
            ("GET", "/knobs"): self._knobs,
            ("POST", "/knobs"): self._set_knobs,
            ("GET", "/faults"): lambda _: self._emulator.faults.to_dict(),
            ("POST", "/faults"): self._add_fault,
            ("DELETE", "/faults"): self._clear_faults,
            ("POST", "/scripts"): self._add_script,
            ("POST", "/reset"): self._reset,
        }

    def __repr__(self) -> str:
        return f"AdminApi({self._emulator!r})"

    def handle(self, request: EmulatedRequest) -> EmulatedResponse:
        """Answer one admin request."""
        if not _is_loopback(request.client):
            return EmulatedResponse.json(403, {"error": "admin endpoints answer loopback only"})
        sub = request.path[len(ADMIN_PREFIX) :].rstrip("/")
        try:
            handler = self._routes.get((request.method, sub))
            if handler is None:
                handler = self._credentials_route(request.method, sub)
            return EmulatedResponse.json(200, handler(request))
        except _AdminError as error:
            return EmulatedResponse.json(error.status, {"error": str(error)})
        except (ValueError, TypeError) as error:
            return EmulatedResponse.json(400, {"error": str(error)})
        except EmulatedError as error:
            return EmulatedResponse.json(error.status, {"error": error.description})

    def _credentials_route(self, method: str, sub: str) -> Callable[[EmulatedRequest], Any]:
        parts = sub.split("/")
        if len(parts) == 4 and parts[1] == "trunks" and parts[3] == "credentials":
            if method != "POST":
                raise _AdminError(405, f"{method} is not allowed here; use POST")
            trunk_sid = unquote(parts[2])

            def issue(_: EmulatedRequest) -> dict[str, Any]:
                credentials = self._emulator.issue_credentials(trunk_sid)
                return {"trunk_sid": trunk_sid, "username": credentials.username}

            return issue
        if any(path == sub for _, path in self._routes):
            raise _AdminError(405, f"{method} is not allowed on {ADMIN_PREFIX}{sub}")
        raise _AdminError(404, f"no admin endpoint at {ADMIN_PREFIX}{sub}")

    def _index(self, _: EmulatedRequest) -> dict[str, Any]:
        endpoints = [f"{method} {ADMIN_PREFIX}{path}" for method, path in self._routes]
        endpoints.append(f"POST {ADMIN_PREFIX}/trunks/{{trunk_sid}}/credentials")
        return {
            "account_sid": self._emulator.account_sid,
            "dialect": self._emulator.dialect,
            "endpoints": endpoints,
        }

    def _requests(self, request: EmulatedRequest) -> dict[str, Any]:
        records = self._emulator.requests
        limit = parse_qs(request.query).get("limit")
        if limit:
            if not limit[0].isdigit():
                raise _AdminError(400, "limit must be a non-negative int")
            records = records[len(records) - int(limit[0]) :] if int(limit[0]) else []
        return {"requests": [record.to_dict() for record in records]}

    def _counters(self, _: EmulatedRequest) -> dict[str, Any]:
        return {
            **self._emulator.counters.to_dict(),
            "connections": self._emulator.connections.to_dict(),
        }

    def _knobs(self, _: EmulatedRequest) -> dict[str, Any]:
        return self._emulator.knobs.to_dict()

    def _set_knobs(self, request: EmulatedRequest) -> dict[str, Any]:
        self._emulator.configure(**_object(request))
        return {**self._emulator.knobs.to_dict(), "faults": self._emulator.faults.to_dict()}

    def _add_fault(self, request: EmulatedRequest) -> dict[str, Any]:
        body = _object(request)
        self._emulator.add_fault(
            body.get("kind") or body.get("fault"),  # type: ignore[arg-type]
            body.get("probability", 1.0),
            method=body.get("method"),
            path=body.get("path"),
            headers=body.get("headers") or (),
            body=body.get("body"),
            seconds=body.get("seconds"),
        )
        return self._emulator.faults.to_dict()

    def _clear_faults(self, _: EmulatedRequest) -> dict[str, Any]:
        self._emulator.clear_faults()
        return self._emulator.faults.to_dict()

    def _add_script(self, request: EmulatedRequest) -> dict[str, Any]:
        body = _object(request)
        times = body.get("times", 1)
        if isinstance(times, bool) or not isinstance(times, int):
            raise _AdminError(400, "times must be a positive int")
        self._emulator.script(
            body.get("method"),
            body.get("path"),
            body.get("fault") or body.get("kind"),  # type: ignore[arg-type]
            times=times,
            headers=body.get("headers") or (),
            body=body.get("body"),
            seconds=body.get("seconds"),
        )
        return self._emulator.faults.to_dict()

    def _reset(self, request: EmulatedRequest) -> dict[str, Any]:
        body = _object(request)
        knobs, faults = body.get("knobs", False), body.get("faults", True)
        if not isinstance(knobs, bool) or not isinstance(faults, bool):
            raise _AdminError(400, "knobs and faults must be true or false")
        self._emulator.reset(knobs=knobs, faults=faults)
        return {"reset": True}
