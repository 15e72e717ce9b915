"""``unwind journal``: check a journal and read its records.

- ``unwind journal verify PATH``: the file's integrity, the schema version, sequence numbers
  without gaps, the record chain, every body readable. Prints the record count and the last
  good record; exit 0 when all holds, 1 otherwise (with what is wrong after the last good one).
- ``unwind journal cut PATH --after SEQ``: keep records 1..SEQ of a damaged journal (the last
  good one, as ``verify`` names it), the whole file copied aside first; exit 0 when what is kept
  verifies.
- ``unwind journal show PATH [--child ID | --parent ID] [--kind KIND ...] [--limit N]``: the
  records in order, one line each (sequence, time, kind, parent, child, body); ``--child``
  gives a child order's whole trail: the gate's run on it, the order and why it was sent, its
  cancels, status requests and the venue's reports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
from pathlib import Path
from typing import TextIO

from engine.journal import JournalError, Kind, cut_after, read_records, verify
from engine.journal_codec import named

__all__ = ["add_journal_arguments", "run_journal"]


def add_journal_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="journal_command", required=True, metavar="ACTION")
    v = sub.add_parser("verify", help="check a journal's integrity; exit 0 or 1")
    v.add_argument("path", type=Path)
    c = sub.add_parser(
        "cut", help="keep a damaged journal's good records, the whole file copied aside first"
    )
    c.add_argument("path", type=Path)
    c.add_argument("--after", type=int, required=True, metavar="SEQ", help="the last good record")
    s = sub.add_parser("show", help="print a journal's records")
    s.add_argument("path", type=Path)
    who = s.add_mutually_exclusive_group()
    who.add_argument("--child", help="one child order's trail (its ClOrdID)")
    who.add_argument("--parent", help="one parent's records (its engine id, e.g. UNWxxP1)")
    s.add_argument("--kind", action="append", choices=[k.value for k in Kind], help="repeatable")
    s.add_argument("--limit", type=int, default=None, help="at most this many records")


def _time(ts_ns: int | None) -> str:
    if ts_ns is None:
        return "-"
    return dt.datetime.fromtimestamp(ts_ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def run_journal(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    """Run ``unwind journal``; return the exit code."""
    if args.journal_command == "verify":
        v = verify(args.path)
        out.write(
            f"{args.path}: {v.records} records, last good #{v.last_good_seq} at "
            f"{_time(v.last_good_ts_ns)}\n"
        )
        if not v.ok:
            err.write(f"unwind journal: {args.path} is damaged: {v.problem}\n")
            return 1
        out.write("OK\n")
        return 0
    if args.journal_command == "cut":
        try:
            aside = cut_after(args.path, args.after)
        except (sqlite3.DatabaseError, ValueError) as exc:
            err.write(f"unwind journal: cannot cut {args.path}: {exc}\n")
            return 2
        v = verify(args.path)
        out.write(f"{args.path}: kept records 1..{args.after}; the whole file is in {aside}\n")
        if not v.ok:
            err.write(f"unwind journal: still damaged: {v.problem}\n")
            return 1
        out.write("OK\n")
        return 0
    kinds = {Kind(k) for k in args.kind} if args.kind else None
    shown = 0
    try:
        for r in read_records(args.path, child=args.child, parent=args.parent):
            if kinds is not None and r.kind not in kinds:
                continue
            if args.limit is not None and shown >= args.limit:
                break
            out.write(
                f"{r.seq}\t{_time(r.ts_ns)}\t{r.kind.value}\t{r.parent or '-'}\t"
                f"{r.child or '-'}\t{named(r.body)}\n"
            )
            shown += 1
    except JournalError as exc:
        err.write(f"unwind journal: {exc}\n")
        return 2
    return 0
