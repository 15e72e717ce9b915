"""QuickFIX settings files: data dictionaries, relative paths, the venue initiator's overrides.

Shared by the simulator's acceptor (:mod:`adapters.fixsim.application`) and the engine's venue
initiator (:mod:`adapters.fix.venue_client`), so both resolve a session file the same way:

* a relative ``DataDictionary`` not found from the working directory is looked up beside the
  configuration file; none at all means the QuickFIX dictionary shipped in ``deploy/quickfix``;
* ``data_dir`` moves ``FileStorePath``/``FileLogPath`` to ``data_dir/store`` and
  ``data_dir/log``;
* a port (and for an initiator a host) given by the caller replaces the file's.

:func:`load_initiator_settings` reads one initiator session out of a file (which may declare
several) and returns settings holding that session only, so the QuickFIX initiator built from
them connects to exactly one venue session.
"""

from __future__ import annotations

from pathlib import Path

import quickfix as fix

from adapters.fix.wire import FixVersion

__all__ = [
    "DEFAULT_DICTIONARY",
    "DICTIONARIES",
    "VenueConfigError",
    "load_initiator_settings",
    "resolve_beside",
]

DICTIONARIES = Path(__file__).resolve().parents[2] / "deploy" / "quickfix"
DEFAULT_DICTIONARY = {FixVersion.FIX42: "FIX42.xml", FixVersion.FIX44: "FIX44.xml"}
_DEFAULT_DATA = Path("engine-data") / "fix"


class VenueConfigError(ValueError):
    """The initiator configuration cannot connect to a venue; the message says what to change."""


def resolve_beside(value: str, config_dir: Path) -> str:
    """``value`` as given if it exists (or is absolute), else beside the configuration file."""
    p = Path(value)
    if p.is_absolute() or p.exists():
        return str(p)
    beside = config_dir / p
    return str(beside) if beside.exists() else value


def load_initiator_settings(
    path: Path,
    *,
    session: str | None = None,
    data_dir: Path | None = None,
    host: str | None = None,
    port: int | None = None,
) -> tuple[fix.SessionSettings, fix.SessionID]:
    """Read one initiator session from ``path`` and apply the overrides (module docstring).

    ``session`` picks the session when the file declares several: a full QuickFIX session id
    (``FIX.4.4:UNWIND44->UNWINDSIM``) or a BeginString (``FIX.4.2``).

    Raises
    ------
    VenueConfigError
        The file is missing or unreadable, ``session`` matches no session or several, the
        session is not an initiator, speaks a FIX version other than 4.2/4.4, has no host or
        port, or its data dictionary cannot be found.
    """
    if not path.is_file():
        raise VenueConfigError(f"venue session configuration {path} does not exist")
    try:
        settings = fix.SessionSettings(str(path))
    except fix.ConfigError as e:
        raise VenueConfigError(f"{path}: {e}") from None
    sid = _pick(path, settings.getSessions(), session)
    name = sid.toString()
    d = settings.get(sid)
    if not d.has("ConnectionType") or d.getString("ConnectionType") != "initiator":
        raise VenueConfigError(f"{path}: session {name} needs ConnectionType=initiator")
    try:
        version = FixVersion(sid.getBeginString().getValue())
    except ValueError:
        raise VenueConfigError(
            f"{path}: session {name}: BeginString must be FIX.4.2 or FIX.4.4"
        ) from None
    defaults = settings.get()
    for target in (defaults, d):
        _override(target, data_dir, host, port)
    for key in ("SocketConnectHost", "SocketConnectPort"):
        if not d.has(key):
            raise VenueConfigError(f"{path}: session {name} needs {key} (or pass host/port)")
    for key, leaf in (("FileStorePath", "store"), ("FileLogPath", "log")):
        if not d.has(key):
            d.setString(key, str(_DEFAULT_DATA / leaf))
    if not d.has("UseDataDictionary") or d.getString("UseDataDictionary") == "Y":
        dd = d.getString("DataDictionary") if d.has("DataDictionary") else ""
        config_dir = path.resolve().parent
        dd = (
            resolve_beside(dd, config_dir)
            if dd
            else str(DICTIONARIES / DEFAULT_DICTIONARY[version])
        )
        if not Path(dd).is_file():
            raise VenueConfigError(f"{path}: session {name}: DataDictionary {dd} not found")
        d.setString("DataDictionary", dd)
    out = fix.SessionSettings()
    out.set(defaults)
    out.set(sid, d)
    return out, sid


def _pick(path: Path, sessions: set[fix.SessionID], wanted: str | None) -> fix.SessionID:
    by_name = {sid.toString(): sid for sid in sessions}
    if wanted is None:
        matches = list(by_name)
    else:
        matches = [n for n in by_name if n == wanted or n.startswith(wanted + ":")]
    if len(matches) != 1:
        what = "no [SESSION]" if not by_name else f"sessions {sorted(by_name)}"
        hint = "" if wanted is None else f" matching {wanted!r}"
        raise VenueConfigError(
            f"{path}: need exactly one session{hint}, found {len(matches)} among {what}; "
            "pass session= (a session id or a BeginString)"
        )
    return by_name[matches[0]]


def _override(d: fix.Dictionary, data_dir: Path | None, host: str | None, port: int | None) -> None:
    if data_dir is not None:
        d.setString("FileStorePath", str(data_dir / "store"))
        d.setString("FileLogPath", str(data_dir / "log"))
    if host is not None:
        d.setString("SocketConnectHost", host)
    if port is not None:
        d.setString("SocketConnectPort", str(port))
