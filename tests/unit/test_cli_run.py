"""`unwind run --check`: a configuration is validated before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_shipped_example_configuration_checks_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(DEPLOY / "engine.toml"), "--check"]) == 0
    assert "OK" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("[engine]\nsymbols = {}\n", "engine.symbols"),
        (
            "[engine]\nmax_participation = 2\n[engine.symbols.X]\ndaily_volume = 1\n",
            "engine.max_participation",
        ),
        (
            "[engine]\nbucket_s = 60\nbogus = 1\n[engine.symbols.X]\ndaily_volume = 1\n",
            "engine.bogus",
        ),
        ("[engine\n", "cannot read"),
        (
            '[engine.symbols.X]\ndaily_volume = 1\n[market_data]\nsource = "ws"\n',
            "source ws needs url",
        ),
        (
            '[engine.symbols.X]\ndaily_volume = 1\n[market_data]\nurl = "http://x"\n',
            "market_data.url",
        ),
        (
            '[engine.symbols.X]\ndaily_volume = 1\n[market_data]\nsource = "kafka"\n',
            "market_data.source",
        ),
        (
            '[engine.symbols.X]\ndaily_volume = 1\n[clock]\nmode = "accelerated"\nspeed = 60\n',
            "mode accelerated needs origin_ns, anchor_unix_ns",
        ),
        ("[engine.symbols.X]\ndaily_volume = 1\n[clock]\nspeed = 60\n", "mode live takes no speed"),
        (
            '[engine.symbols.X]\ndaily_volume = 1\n[clock]\nmode = "accelerated"\n'
            "speed = 0\norigin_ns = 1\nanchor_unix_ns = 1\n",
            "clock.speed",
        ),
        (
            '[engine.symbols.X]\ndaily_volume = 1\n[clock]\nmode = "accelerated"\n'
            "speed = inf\norigin_ns = 1\nanchor_unix_ns = 1\n",
            "clock.speed",
        ),
        (
            '[engine.symbols.X]\ndaily_volume = 1\n[clock]\nmode = "accelerated"\n'
            "speed = 60\norigin_ns = -1\nanchor_unix_ns = 1\n",
            "clock.origin_ns",
        ),
        ('[engine.symbols.X]\ndaily_volume = 1\n[clock]\nmode = "simulated"\n', "clock.mode"),
    ],
)
def test_a_bad_configuration_exits_1_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, words: str
) -> None:
    cfg = tmp_path / "engine.toml"
    venue = DEPLOY / "quickfix" / "engine-venue.cfg"
    oms = DEPLOY / "quickfix" / "engine-oms.cfg"
    cfg.write_text(
        f'{body}\n[venue]\nsettings = "{venue}"\n[oms]\nsettings = "{oms}"\n'
        if "[engine\n" not in body
        else body
    )
    assert main(["run", "--config", str(cfg), "--check"]) == 1
    assert words in capsys.readouterr().err


def test_a_missing_quickfix_file_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "engine.toml"
    cfg.write_text(
        '[engine.symbols.X]\ndaily_volume = 1\n[venue]\nsettings = "nope.cfg"\n'
        f'[oms]\nsettings = "{DEPLOY / "quickfix" / "engine-oms.cfg"}"\n'
    )
    assert main(["run", "--config", str(cfg), "--check"]) == 1
    assert "nope.cfg" in capsys.readouterr().err
