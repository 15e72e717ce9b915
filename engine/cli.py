"""The ``unwind`` command: parse arguments, call one function, return its exit code.

Subcommands: ``plan``, ``fixsim``, ``simulate``, ``regimes``, ``run`` (the daemon), ``paper``
(a whole paper session), ``soak`` (many seeded paper sessions with faults, each checked),
``journal``, ``replay`` and ``tca`` (from a journal), ``oms-demo``, ``backtest``,
``calibrate`` and ``schedule-study``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from strategies.planner import STRATEGIES

__all__ = ["build_parser", "main"]


def _fraction(text: str) -> float:
    """Accept ``0.15`` or ``15%``."""
    try:
        value = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a fraction such as 0.15 or 15%, got {text!r}"
        ) from None
    return value


def _add_plan(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "plan",
        help="compute an execution schedule and its expected cost and risk",
        description=(
            "Compute a schedule for one parent order. Units follow Almgren & Chriss (2001): "
            "pick a time unit for --horizon (days in the defaults) and give sigma in price per "
            "square-root time unit, eta in price x time per share. The defaults are the "
            "paper's worked example (section 4: 1M shares of a $50 stock over 5 days)."
        ),
    )
    p.add_argument("--strategy", choices=STRATEGIES, default="ac")
    p.add_argument("--shares", type=float, required=True, help="parent quantity (shares)")
    p.add_argument("--side", choices=("buy", "sell"), default="sell")
    p.add_argument("--price", type=float, default=50.0, help="arrival price (for bps)")
    p.add_argument(
        "--sigma", type=float, default=0.95, help="volatility, price per sqrt(time unit)"
    )
    p.add_argument(
        "--eta",
        type=float,
        default=2.5e-6,
        help="temporary impact coefficient (linear and power models)",
    )
    p.add_argument("--gamma", type=float, default=2.5e-7, help="permanent impact, price/share")
    p.add_argument(
        "--epsilon", type=float, default=0.0625, help="fixed cost per share (half-spread), price"
    )
    p.add_argument("--horizon", type=float, default=5.0, help="T, in the chosen time unit")
    p.add_argument("--periods", type=int, default=5, help="N, number of periods")
    p.add_argument("--risk-aversion", type=float, default=1e-6, help="lambda, 1/currency")
    p.add_argument(
        "--drift", type=float, default=0.0, help="expected price drift, price per time unit"
    )
    p.add_argument("--impact", choices=("linear", "power", "sqrt"), default="linear")
    p.add_argument(
        "--impact-exponent",
        type=float,
        default=0.6,
        help="beta of the power model: per-share impact eta * rate**beta",
    )
    p.add_argument(
        "--impact-coefficient",
        type=float,
        default=1.0,
        help="Y of the square-root model: per-share impact Y*sigma*sqrt(x/V)",
    )
    p.add_argument(
        "--volume-profile",
        metavar="FILE",
        help="market volume over equal sub-intervals of the horizon, one number per "
        "line (resampled to --periods)",
    )
    p.add_argument(
        "--volume",
        type=float,
        help="total market volume over the horizon (scales the profile; alone it "
        "means a flat profile)",
    )
    p.add_argument(
        "--pov-cap",
        type=_fraction,
        help="participation cap (0.15 or 15%%); the rate of --strategy pov (default 15%%)",
    )
    p.add_argument("--lot", type=float, help="lot size in shares (schedules in whole lots)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="FILE.png", help="draw the trajectory (and frontier for ac)")


def _add_fixsim(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from adapters.fixsim.command import add_fixsim_arguments

    p = sub.add_parser(
        "fixsim",
        help="run the FIX exchange simulator (QuickFIX acceptor, WebSocket feed, faults)",
        description=(
            "A FIX 4.2/4.4 venue in front of the seeded market simulator, in real or "
            "accelerated simulated time, with optional deterministic fault injection. "
            "Runs until SIGINT/SIGTERM or, with --until-end, the end of the simulated "
            "session. See docs/fixsim.md."
        ),
    )
    add_fixsim_arguments(p)


def _add_simulate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from adapters.sim.command import add_simulate_arguments

    p = sub.add_parser(
        "simulate",
        help="simulate one seeded day with a probe trader and write it as a tape",
        description=(
            "One day of the market simulator (regime switching, a predatory participant) "
            "with a probe trader of ours alternating predictable and random phases; the "
            "tape holds the market, our fills and the ground truth, for 'unwind regimes'."
        ),
    )
    add_simulate_arguments(p)


def _add_regimes(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engine.regimes_command import add_regimes_arguments

    p = sub.add_parser(
        "regimes",
        help="run the regime detector over a day of data (LOBSTER or a simulator tape)",
        description=(
            "Print, bar by bar, the volatility estimate, the regime (LV, HV, ADV) and the "
            "adversarial score. See docs/strategies.md."
        ),
    )
    add_regimes_arguments(p)


def _add_calibrate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engine.calibrate_command import add_calibrate_arguments
    from engine.schedule_study import add_schedule_study_arguments

    p = sub.add_parser(
        "calibrate",
        help="fit impact and volatility from LOBSTER or our simulated fills; test out of sample",
        description=(
            "Fit temporary (power law) and permanent (Kyle lambda) impact and volatility on the "
            "morning, test on the afternoon; train and test the learned impact model. See "
            "docs/calibration.md."
        ),
    )
    add_calibrate_arguments(p)
    p = sub.add_parser(
        "schedule-study",
        help="DP vs naive, front- and back-loaded schedules on a 390-minute day (claim 1)",
        description="Square-root impact at the write-up's fits and the real GOOG book.",
    )
    add_schedule_study_arguments(p)


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run the engine daemon (FIX venue, FIX OMS sessions, optional REST)",
        description="Run the engine daemon until SIGTERM or SIGINT, then drain. See README.",
    )
    p.add_argument("--config", type=Path, required=True, help="daemon TOML configuration")
    p.add_argument(
        "--check", action="store_true", help="validate the configuration and exit 0 or 1"
    )


def _add_journal(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engine.journal_command import add_journal_arguments

    p = sub.add_parser(
        "journal",
        help="check a journal and read its records",
        description="verify: integrity, exit 0 or 1; show: the records, or one child's trail.",
    )
    add_journal_arguments(p)


def _add_tca(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engine.tca_command import add_tca_arguments

    p = sub.add_parser(
        "tca",
        help="from a journal: why a child was sent, or a parent's post-trade analysis",
        description=(
            "--child: the audit trail of one child order (plan target, regime, policy, gate "
            "verdicts). --parent: implementation shortfall and its decomposition, benchmarks "
            "(interval VWAP, TWAP, close), participation and markouts (docs/tca.md)."
        ),
    )
    add_tca_arguments(p)


def _add_backtest(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engine.backtest_command import add_backtest_arguments

    p = sub.add_parser(
        "backtest",
        help="strategies side by side on seeded simulator days or LOBSTER replay windows",
        description=(
            "Each strategy works the same parent on the same markets with the engine's own "
            "code in simulated time; prints shortfall and cost with 95% intervals, paired "
            "differences vs TWAP, completion, participation and invariant violations "
            "(docs/backtest.md). Exit 1 if any run broke an invariant."
        ),
    )
    add_backtest_arguments(p)


def _add_replay(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engine.replay import add_replay_arguments

    p = sub.add_parser(
        "replay",
        help="re-run the engine over a journal's inputs; check every decision is the same",
        description="Exit 0 when every decision is identical, 1 at the first divergence "
        "(printed), 2 when the journal cannot be replayed.",
    )
    add_replay_arguments(p)


def _add_paper(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "paper",
        help="paper-trade one parent order: FIX simulator, engine and demo OMS on loopback",
        description=(
            "Start the FIX exchange simulator, the engine and a demo OMS on this machine (real "
            "FIX sessions on loopback), send one parent order, show progress, and end with a "
            "post-trade summary and a chart. Exit 0 only if the parent filled within the cap "
            "and the invariants hold against the simulator's record (with --faults on: the "
            "invariants, and the parent ended consistent with its fills)."
        ),
    )
    p.add_argument("--symbol", default="XYZ")
    p.add_argument("--side", choices=("buy", "sell"), default="sell")
    p.add_argument("--qty", type=int, default=100_000, help="parent quantity (shares)")
    p.add_argument("--minutes", type=float, default=20.0, help="horizon, simulated minutes")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--strategy", default="adaptive", choices=("ac", "dp", "twap", "vwap", "pov", "adaptive")
    )
    p.add_argument("--cap", type=_fraction, default=0.15, help="participation cap")
    p.add_argument("--chart", type=Path, default=Path("paper-report.png"))
    p.add_argument("--data-dir", type=Path, default=None, help="FIX stores and logs")
    p.add_argument(
        "--journal",
        type=Path,
        default=Path("paper-journal.sqlite"),
        help="the engine's journal, written afresh (for unwind replay and tca); '' for none",
    )
    p.add_argument(
        "--market-data",
        choices=("venue", "ws"),
        default="venue",
        help="market data over the venue's FIX session or the simulator's WebSocket feed",
    )
    p.add_argument(
        "--faults",
        choices=("off", "on"),
        default="off",
        help="the FIX simulator's fault profile, seeded by --seed (docs/risk.md): 'on' drops, "
        "duplicates and delays reports, holds fills past cancels, rejects orders, forces "
        "disconnects and halts; the parent must then end consistent with its fills, not filled",
    )


def _add_soak(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engine.soak import add_soak_arguments

    p = sub.add_parser(
        "soak",
        help="run many seeded paper sessions over FIX with faults on and check each",
        description=(
            "Run --runs seeded paper sessions (each in its own process, --jobs at a time) "
            "against the FIX simulator with its fault profile on, and check each against the "
            "simulator's record: no overfill, no cap breach, nothing sent after the deadline, "
            "the parent ended consistent with its fills. One line per run, then a summary. "
            "Exit 0 only if no run broke an invariant or failed to run. See docs/risk.md."
        ),
    )
    add_soak_arguments(p)


def _add_oms_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "oms-demo",
        help="a demo OMS: send parent orders to a running engine over FIX, one after another",
        description=(
            "Log on to the engine's OMS acceptor (retrying until it is up), send a parent, "
            "wait for it to end, send the next (alternating sell and buy), until --count "
            "parents or SIGTERM. For the docker-compose stack; see docs/operations.md."
        ),
    )
    p.add_argument(
        "--config",
        type=Path,
        default=Path("deploy/quickfix/oms-client.cfg"),
        help="QuickFIX initiator settings of the OMS session",
    )
    p.add_argument("--data-dir", type=Path, help="FileStore and FileLog go under this directory")
    p.add_argument("--port", type=int, help="override SocketConnectPort")
    p.add_argument("--symbol", default="XYZ")
    p.add_argument("--qty", type=int, default=20_000, help="each parent's quantity (shares)")
    p.add_argument("--minutes", type=float, default=30.0, help="each parent's horizon")
    p.add_argument(
        "--strategy", default="adaptive", choices=("ac", "dp", "twap", "vwap", "pov", "adaptive")
    )
    p.add_argument("--cap", type=_fraction, default=0.10, help="participation cap")
    p.add_argument("--count", type=int, default=0, help="parents to send (0: until stopped)")


def _run_oms_demo(args: argparse.Namespace) -> int:
    from engine.oms_demo import OmsDemoOptions, main_oms_demo

    if args.qty <= 0 or args.minutes <= 0 or args.count < 0:
        print("unwind oms-demo: --qty and --minutes must be > 0, --count >= 0", file=sys.stderr)
        return 2
    opts = OmsDemoOptions(
        settings=args.config,
        data_dir=args.data_dir,
        port=args.port,
        symbol=args.symbol,
        qty=args.qty,
        minutes=args.minutes,
        strategy=args.strategy,
        cap=args.cap,
        count=args.count,
    )
    return main_oms_demo(opts)


def _run_soak(args: argparse.Namespace) -> int:
    from engine.soak import options_from_args, run_soak

    result = run_soak(options_from_args(args))
    return 1 if result.failed else 0


def _run_paper(args: argparse.Namespace) -> int:
    import asyncio

    from engine.logs import configure_logging
    from engine.paper import PaperOptions, run_paper
    from strategies.schedule import Side

    if args.qty <= 0 or args.minutes <= 0 or args.speed <= 0:
        print("unwind paper: --qty, --minutes and --speed must be > 0", file=sys.stderr)
        return 2
    configure_logging(level="warning")
    opts = PaperOptions(
        symbol=args.symbol,
        side=Side(args.side),
        qty=args.qty,
        minutes=args.minutes,
        speed=args.speed,
        seed=args.seed,
        strategy=args.strategy,
        cap=args.cap,
        chart=args.chart,
        data_dir=args.data_dir,
        journal=args.journal if str(args.journal) not in ("", ".") else None,
        market_data=args.market_data,
        faults=args.faults,
    )
    return asyncio.run(run_paper(opts))


def _run_daemon(args: argparse.Namespace) -> int:
    import asyncio

    from engine.daemon import load_daemon_config, serve
    from engine.logs import configure_logging

    try:
        cfg = load_daemon_config(args.config)
        if args.check:
            from adapters.fix.settings import load_initiator_settings
            from adapters.fixsim.application import load_settings

            load_initiator_settings(cfg.venue.settings, session=cfg.venue.session)
            load_settings(cfg.oms.settings, data_dir=None, port=None)
            journal = cfg.journal.path
            if journal is not None and journal.exists():
                from engine.journal import verify

                v = verify(journal)
                if not v.ok:
                    last = v.last_good_seq
                    raise ValueError(
                        f"journal {journal}: {v.problem} (last good #{last}; keep the good "
                        f"records with `unwind journal cut {journal} --after {last}`)"
                    )
            print(f"{args.config}: OK")
            return 0
    except Exception as e:  # any reason the configuration cannot run
        print(f"unwind run: {e}", file=sys.stderr)
        return 1
    configure_logging(level="info")
    from engine.journal import JournalError
    from engine.recovery import RecoveryError

    try:
        asyncio.run(serve(cfg))
    except (JournalError, RecoveryError) as e:
        print(f"unwind run: {e}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unwind", description="Unwind: execution engine for large equity orders."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_plan(sub)
    _add_fixsim(sub)
    _add_simulate(sub)
    _add_regimes(sub)
    _add_calibrate(sub)
    _add_run(sub)
    _add_paper(sub)
    _add_journal(sub)
    _add_replay(sub)
    _add_tca(sub)
    _add_backtest(sub)
    _add_soak(sub)
    _add_oms_demo(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``unwind`` command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "plan":
        from engine.plan_command import run_plan

        return run_plan(args, out=sys.stdout, err=sys.stderr)
    if args.command == "fixsim":
        from adapters.fixsim.command import run_fixsim

        return run_fixsim(args, out=sys.stdout, err=sys.stderr)
    if args.command == "simulate":
        from adapters.sim.command import run_simulate

        return run_simulate(args, out=sys.stdout, err=sys.stderr)
    if args.command == "regimes":
        from engine.regimes_command import run_regimes

        return run_regimes(args, out=sys.stdout, err=sys.stderr)
    if args.command in ("calibrate", "schedule-study"):
        from engine.calibrate_command import run_calibrate
        from engine.schedule_study import run_schedule_study

        run = run_calibrate if args.command == "calibrate" else run_schedule_study
        return run(args, out=sys.stdout, err=sys.stderr)
    if args.command == "run":
        return _run_daemon(args)
    if args.command == "paper":
        return _run_paper(args)
    if args.command == "tca":
        from engine.tca_command import run_tca

        return run_tca(args, out=sys.stdout, err=sys.stderr)
    if args.command == "backtest":
        from engine.backtest_command import run_backtest

        return run_backtest(args, out=sys.stdout, err=sys.stderr)
    if args.command == "replay":
        from engine.replay import run_replay

        return run_replay(args, out=sys.stdout, err=sys.stderr)
    if args.command == "journal":
        from engine.journal_command import run_journal

        return run_journal(args, out=sys.stdout, err=sys.stderr)
    if args.command == "soak":
        return _run_soak(args)
    if args.command == "oms-demo":
        return _run_oms_demo(args)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
