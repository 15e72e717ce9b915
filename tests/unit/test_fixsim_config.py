"""Configuration of the simulator: QuickFIX settings, shipped configs, CLI arguments, JSON feed."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
import quickfix as fix

from adapters.fixsim.application import FixSimConfigError, load_settings
from adapters.fixsim.command import config_from_args
from adapters.fixsim.server import FixSimConfig, wire_origin_ns
from adapters.fixsim.wsjson import event_from_json, event_to_json
from engine.cli import build_parser, main
from engine.events import BookSnapshot, BookUpdate, Quote, Side, Trade, TradingState, TradingStatus

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "quickfix"
NS = 1_000_000_000


_KEYS = ("DataDictionary", "ResetOnLogon", "FileStorePath", "FileLogPath", "SocketAcceptPort")


def _sessions(settings: fix.SessionSettings) -> dict[str, dict[str, str]]:
    # Copy the values out: a quickfix.Dictionary from get() points into ``settings``.
    out = {}
    for sid in settings.getSessions():
        d = settings.get(sid)
        out[sid.toString()] = {k: d.getString(k) for k in _KEYS if d.has(k)}
    return out


def test_shipped_fixsim_cfg_when_loaded_then_42_and_44_acceptors_with_dictionaries() -> None:
    sessions = _sessions(load_settings(DEPLOY / "fixsim.cfg"))
    assert sorted(sessions) == ["FIX.4.2:UNWINDSIM->UNWIND42", "FIX.4.4:UNWINDSIM->UNWIND44"]
    for name, d in sessions.items():
        dictionary = Path(d["DataDictionary"])
        assert dictionary.is_file() and dictionary.name == (
            "FIX42.xml" if "4.2" in name else "FIX44.xml"
        )
        assert d["ResetOnLogon"] == "N"  # resend recovery needs kept sequence numbers


def test_initiator_example_when_read_then_mirrors_the_acceptor_sessions() -> None:
    acceptor = {
        (
            s.getBeginString().getValue(),
            s.getSenderCompID().getValue(),
            s.getTargetCompID().getValue(),
        )
        for s in fix.SessionSettings(str(DEPLOY / "fixsim.cfg")).getSessions()
    }
    example = fix.SessionSettings(str(DEPLOY / "initiator-example.cfg"))
    initiator = {
        (
            s.getBeginString().getValue(),
            s.getTargetCompID().getValue(),
            s.getSenderCompID().getValue(),
        )
        for s in example.getSessions()
    }
    assert initiator == acceptor
    for sid in example.getSessions():
        port = example.get(sid).getString("SocketConnectPort")
        assert port == "9878"
        assert (DEPLOY.parents[1] / example.get(sid).getString("DataDictionary")).is_file()


def test_load_settings_when_overrides_given_then_store_log_and_port_replaced(
    tmp_path: Path,
) -> None:
    sessions = _sessions(load_settings(DEPLOY / "fixsim.cfg", data_dir=tmp_path, port=4321))
    for d in sessions.values():
        assert d["FileStorePath"] == str(tmp_path / "store")
        assert d["FileLogPath"] == str(tmp_path / "log")
        assert d["SocketAcceptPort"] == "4321"


def _cfg(tmp: Path, body: str) -> Path:
    path = tmp / "x.cfg"
    path.write_text(
        "[DEFAULT]\nConnectionType=acceptor\nSocketAcceptPort=1\nSenderCompID=S\n"
        "StartTime=00:00:00\nEndTime=00:00:00\n" + body
    )
    return path


def test_load_settings_when_dictionary_relative_then_found_beside_the_file(tmp_path: Path) -> None:
    shutil.copy(DEPLOY / "FIX44.xml", tmp_path / "FIX44.xml")
    cfg = _cfg(
        tmp_path, "[SESSION]\nBeginString=FIX.4.4\nTargetCompID=C\nDataDictionary=FIX44.xml\n"
    )
    (d,) = _sessions(load_settings(cfg)).values()
    assert d["DataDictionary"] == str(tmp_path / "FIX44.xml")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            "[SESSION]\nBeginString=FIX.4.3\nTargetCompID=C\n",
            "BeginString must be FIX.4.2 or FIX.4.4",
        ),
        (
            "[SESSION]\nBeginString=FIX.4.4\nTargetCompID=C\nConnectionType=initiator\n",
            "needs ConnectionType=acceptor",
        ),
        (
            "[SESSION]\nBeginString=FIX.4.4\nTargetCompID=C\nDataDictionary=nowhere.xml\n",
            "DataDictionary nowhere.xml not found",
        ),
    ],
)
def test_load_settings_when_unusable_then_error_names_what_to_change(
    tmp_path: Path, body: str, match: str
) -> None:
    with pytest.raises(FixSimConfigError, match=match):
        load_settings(_cfg(tmp_path, body))


def test_load_settings_when_file_missing_then_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(FixSimConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.cfg")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--speed", "0"], "--speed must be > 0"),
        (["--speed", "fast"], "expected a number"),
        (["--drop-reports", "1.5"], "a fraction must be within [0, 1]"),
        (["--ack-delay", "-1"], "seconds must be >= 0"),
        (["--ws-port", "70000"], "a TCP port is within 0-65535"),
        (["--date", "21/11/2026"], "expected a date YYYY-MM-DD"),
    ],
)
def test_cli_when_bad_argument_then_exit_2_with_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fixsim", *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_when_fractions_conflict_then_exit_2_with_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["fixsim", "--fill-after-cancel", "0.6", "--fill-races-replace", "0.6"])
    assert code == 2
    assert "must not exceed 1" in capsys.readouterr().err


def test_config_from_args_when_faults_given_then_seconds_become_sim_ns_and_seed_shared() -> None:
    args = build_parser().parse_args(
        [
            "fixsim",
            "--seed",
            "9",
            "--ack-delay",
            "0.25",
            "--delay-acks",
            "20%",
            "--halt-every",
            "900",
            "--halt-duration",
            "30",
            "--speed",
            "60",
        ]
    )
    config = config_from_args(args)
    faults = config.faults
    assert (faults.seed, faults.delay_acks, faults.ack_delay_ns) == (9, 0.2, NS // 4)
    assert (faults.halt_every_ns, faults.halt_duration_ns) == (900 * NS, 30 * NS)
    assert (config.speed, config.until_end, config.ws_port) == (60.0, False, None)


def test_fixsim_config_when_until_end_in_manual_mode_then_refused() -> None:
    with pytest.raises(ValueError, match="until_end needs speed > 0"):
        FixSimConfig(settings_path=Path("x.cfg"), until_end=True)


def test_fixsim_config_when_anchored_in_manual_mode_then_refused() -> None:
    with pytest.raises(ValueError, match="anchor_unix_ns needs speed > 0"):
        FixSimConfig(settings_path=Path("x.cfg"), anchor_unix_ns=1)


def test_wire_origin_when_clock_counts_from_midnight_then_put_on_the_date() -> None:
    day = dt.date(2026, 3, 2)
    assert wire_origin_ns(34_200 * NS, day) == 1_772_409_600 * NS  # 2026-03-02T00:00Z
    assert wire_origin_ns(1_772_443_800 * NS, day) == 0  # already an epoch clock


EVENTS = [
    BookSnapshot("XYZ", ((999_900, 500),), ((1_000_100, 400), (1_000_200, 1)), 5, 9),
    BookUpdate("XYZ", Side.SELL, 1_000_100, 0, 5, 9),
    Trade("XYZ", 1_000_150, 300, Side.BUY, "SIM-T1", 5, 9),
    Trade("XYZ", 1_000_150, 300, None, "SIM-T2", 5, 9),
    Quote("XYZ", 999_900, 500, None, 0, 5, 9),
    TradingStatus("XYZ", TradingState.HALTED, "news pending", 5, 9),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_ws_json_when_round_tripped_then_equal_and_origin_added(event: object) -> None:
    obj = event_to_json(event, origin_ns=1_000)  # type: ignore[arg-type]
    assert obj["ts"] == 1_005
    assert event_from_json(obj, 9) == replace(event, ts_event=1_005)  # type: ignore[type-var]
    assert event_from_json(event_to_json(event), 9) == event  # type: ignore[arg-type]


def test_ws_json_when_prices_encoded_then_exact_decimal_strings_beside_units() -> None:
    obj = event_to_json(Trade("XYZ", 1_000_150, 300, Side.BUY, "T", 5, 9))
    assert (obj["price"], obj["price_units"], obj["aggressor"]) == ("100.015", 1_000_150, "buy")
    quote = event_to_json(Quote("XYZ", 999_900, 500, None, 0, 5, 9))
    assert (quote["bid_price"], quote["ask_price"], quote["ask_price_units"]) == (
        "99.99",
        None,
        None,
    )


def test_clock_wall_when_speed_not_one_then_refused() -> None:
    args = build_parser().parse_args(["fixsim", "--clock", "wall", "--speed", "60"])
    with pytest.raises(ValueError, match="--clock wall needs --speed 1"):
        config_from_args(args)


def test_clock_wall_then_the_market_starts_now_on_an_epoch_clock() -> None:
    from adapters.fixsim.command import build_market

    before = time.time_ns()
    args = build_parser().parse_args(["fixsim", "--clock", "wall", "--metrics-port", "0"])
    market = build_market(args)
    assert before <= market.start_ns <= time.time_ns()
    assert wire_origin_ns(market.start_ns, None) == 0  # wire times are the market's own
    assert config_from_args(args).metrics_port == 0
