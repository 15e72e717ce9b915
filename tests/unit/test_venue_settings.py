"""Initiator settings of the venue adapter: the shipped engine-venue.cfg, selection, overrides."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import quickfix as fix

from adapters.fix.settings import VenueConfigError, load_initiator_settings
from adapters.fix.venue_client import FixVenueConfig

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "quickfix"


def _acceptor_sessions() -> set[tuple[str, str, str]]:
    settings = fix.SessionSettings(str(DEPLOY / "fixsim.cfg"))
    return {
        (
            s.getBeginString().getValue(),
            s.getSenderCompID().getValue(),
            s.getTargetCompID().getValue(),
        )
        for s in settings.getSessions()
    }


def test_engine_venue_cfg_when_loaded_then_one_fix44_session_that_fixsim_accepts(
    tmp_path: Path,
) -> None:
    settings, sid = load_initiator_settings(DEPLOY / "engine-venue.cfg")
    begin, sender, target = (
        sid.getBeginString().getValue(),
        sid.getSenderCompID().getValue(),
        sid.getTargetCompID().getValue(),
    )
    assert (begin, target, sender) in _acceptor_sessions()  # mirrored: our sender is its target
    assert begin == "FIX.4.4"
    d = settings.get(sid)
    assert Path(d.getString("DataDictionary")) == DEPLOY / "FIX44.xml"  # found beside the file
    assert d.getString("ResetOnLogon") == "N" and d.getString("ConnectionType") == "initiator"
    assert len(settings.getSessions()) == 1


def test_overrides_when_given_then_store_log_host_and_port_replaced(tmp_path: Path) -> None:
    settings, sid = load_initiator_settings(
        DEPLOY / "engine-venue.cfg", data_dir=tmp_path, host="10.0.0.7", port=4001
    )
    d = settings.get(sid)
    assert (d.getString("FileStorePath"), d.getString("FileLogPath")) == (
        str(tmp_path / "store"), str(tmp_path / "log"))  # fmt: skip
    assert (d.getString("SocketConnectHost"), d.getString("SocketConnectPort")) == (
        "10.0.0.7", "4001")  # fmt: skip


def test_session_when_file_has_two_then_selected_by_begin_string_or_id() -> None:
    example = DEPLOY / "initiator-example.cfg"
    with pytest.raises(VenueConfigError, match="exactly one session"):
        load_initiator_settings(example)
    _, sid42 = load_initiator_settings(example, session="FIX.4.2")
    assert sid42.toString() == "FIX.4.2:UNWIND42->UNWINDSIM"
    _, sid44 = load_initiator_settings(example, session="FIX.4.4:UNWIND44->UNWINDSIM")
    assert sid44.getBeginString().getValue() == "FIX.4.4"
    with pytest.raises(VenueConfigError, match=r"'FIX\.5\.0'"):
        load_initiator_settings(example, session="FIX.5.0")


def test_config_when_acceptor_or_missing_then_refused_with_what_to_change(tmp_path: Path) -> None:
    with pytest.raises(VenueConfigError, match="ConnectionType=initiator"):
        load_initiator_settings(DEPLOY / "fixsim.cfg", session="FIX.4.4")
    with pytest.raises(VenueConfigError, match="does not exist"):
        load_initiator_settings(tmp_path / "nope.cfg")
    cfg = tmp_path / "engine.cfg"
    shutil.copy(DEPLOY / "engine-venue.cfg", cfg)  # FIX44.xml is not beside this copy
    with pytest.raises(VenueConfigError, match=r"DataDictionary FIX44\.xml not found"):
        load_initiator_settings(cfg)


def test_venue_config_when_values_out_of_range_then_refused() -> None:
    path = DEPLOY / "engine-venue.cfg"
    for bad in ({"port": 0}, {"md_depth": -1}, {"dedup_window": 0}, {"logout_timeout_s": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            FixVenueConfig(settings_path=path, **bad)  # type: ignore[arg-type]
