"""The state file of ``apply``: which trunk a spec was applied to, and how far the run got.

Where the service lists no trunks (the reference API), a trunk whose sid is lost cannot be
found again; where it does, a name may have changed hands. So ``apply`` records the sid the
moment the trunk is known (created, or found by name), in a JSON file beside the spec
(``tenant.toml`` -> ``tenant.state.json``; ``--state PATH`` puts it elsewhere). A later
``apply`` of the same spec reads the sid from there. The file holds no secrets: the trunk's
sid and name, the account's sid, the run's status and counts, and when it was written. It is
replaced atomically (a temporary file beside it, then ``os.replace``), so an interrupted write
leaves the previous version whole.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import click

__all__ = ["ApplyState", "StateFileError", "choose_trunk_sid", "default_state_path"]

#: The format's version; a file with another one is refused rather than misread.
VERSION = 1
_ABOUT = (
    "Written by 'exotel-trunking apply'. It remembers which trunk the spec was applied to "
    "(it wins over finding the trunk by name): keep it while the trunk exists. It holds no "
    "secrets."
)


class StateFileError(click.UsageError):
    """The state file cannot be read or written, or it contradicts the spec (exit code 2)."""


def default_state_path(spec: str | Path) -> Path:
    """Where the state of ``spec`` is kept by default: ``tenant.toml`` -> ``tenant.state.json``."""
    path = Path(spec)
    return path.with_name(f"{path.stem}.state.json")


@attrs.define
class ApplyState:
    """What a state file holds.

    Attributes:
        spec: The spec file's name.
        trunk_name: The trunk's name from the spec.
        account_sid: The account the trunk belongs to.
        trunk_sid: The trunk's sid, once it exists.
        status: ``"applying"``, ``"interrupted"``, ``"failed"`` (some items failed, or the
            run stopped on an error) or ``"done"``.
        phase: The phase the run was in when the file was written.
        counts: Per phase, how many items were created, found in place, or failed.
        updated_at: When the file was written (UTC, ISO 8601).
    """

    spec: str
    trunk_name: str
    account_sid: str | None = None
    trunk_sid: str | None = None
    status: str = "applying"
    phase: str | None = None
    counts: dict[str, dict[str, int]] = attrs.Factory(dict)
    updated_at: str | None = None

    @classmethod
    def read(cls, path: Path) -> ApplyState | None:
        """The state recorded at ``path``, or ``None`` if there is no file.

        Raises:
            StateFileError: the file exists but is not a state file this version can read.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StateFileError(f"cannot read the state file {path}: {error}") from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != VERSION:
                raise ValueError(f"expected a JSON object with version {VERSION}")
            fields = {field.name for field in attrs.fields(cls)}
            state = cls(**{key: value for key, value in data.items() if key in fields})
            if not isinstance(state.trunk_sid, str | None):
                raise ValueError(f"trunk_sid={state.trunk_sid!r}: expected a string or null")
        except (ValueError, TypeError) as error:
            raise StateFileError(
                f"{path} is not a state file that exotel-trunking apply can read ({error}). "
                "It may name a trunk that was created: look at it, then fix or delete it, "
                "or pass --state PATH to keep the state elsewhere"
            ) from None
        return state

    def write(self, path: Path) -> None:
        """Write the state to ``path`` atomically (a temporary file, then ``os.replace``).

        Raises:
            StateFileError: the file could not be written; the previous one is left whole.
        """
        self.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        data: dict[str, Any] = {"about": _ABOUT, "version": VERSION, **attrs.asdict(self)}
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with temporary.open("w", encoding="utf-8") as file:
                json.dump(data, file, indent=2)
                file.write("\n")
                file.flush()
                os.fsync(file.fileno())  # on disk before it takes the old file's place
            os.replace(temporary, path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise StateFileError(
                f"cannot write the state file {path}: {error}; pass --state PATH to keep it "
                "somewhere writable"
            ) from None


def choose_trunk_sid(
    *,
    option: str | None,
    spec: str | None,
    recorded: ApplyState | None,
    spec_path: str,
    state_path: Path,
    name: str | None = None,
) -> str | None:
    """The trunk to apply to: ``--trunk-sid``, else the spec's, else the state file's.

    Args:
        option: ``--trunk-sid``, if given.
        spec: The spec's ``trunk_sid``, if it has one.
        recorded: What the state file holds, if there is one.
        spec_path: The spec file (for the messages).
        state_path: The state file (for the messages).
        name: The spec's trunk name: a state file that records a trunk under another name
            is refused (a spec reused as a template for another tenant would otherwise be
            applied to, and with ``--prune`` removed from, the first tenant's trunk).

    Raises:
        StateFileError: ``--trunk-sid`` or the spec names another trunk than the state file,
            or the state file records a trunk of another name than ``name``.
    """
    known = recorded.trunk_sid if recorded is not None else None
    if recorded is not None and known is not None and name not in (None, recorded.trunk_name):
        raise StateFileError(
            f'{spec_path} says name = "{name}", but the state file {state_path} records '
            f'trunk {known} named "{recorded.trunk_name}" as the one this spec was applied '
            f"to. If {spec_path} is now another tenant's spec, delete or move that state "
            "file, or pass --state PATH for a new one; if not, put "
            f'name = "{recorded.trunk_name}" back in {spec_path}'
        )
    given = [(f"--trunk-sid {option}", option), (f'{spec_path} says trunk_sid = "{spec}"', spec)]
    for source, sid in given:
        if sid is not None and known is not None and sid != known:
            raise StateFileError(
                f"{source}, but the state file {state_path} records trunk {known} "
                f"as the one this spec was applied to. To apply to {known}, drop or correct "
                f"that trunk_sid; to apply to {sid}, first note {known} (a trunk's sid cannot "
                "be found again), then delete the state file or pass --state PATH for a new one"
            )
    return option or spec or known
