"""``unwind tca --journal PATH --child ID``: why a child order was sent, from the journal.

The audit trail of one child, read back from the records the engine wrote when it decided:

- the order as sent (side, quantity, limit, time in force) and the tactic's reason;
- the plan in force then: its strategy and why it was made, its start and bucket, the bucket
  the child fell in and that bucket's cumulative target against what had filled;
- the regime and the policy the tactics followed (passive share, child depth, display, jitter);
- the risk gate's run on it: what was asked, what was granted, every clip;
- what happened after: cancels, status requests and the venue's reports.

``--json`` prints the same as one JSON object.

``unwind tca --journal PATH --parent ID``: the post-trade analysis of a whole parent
(:mod:`engine.tca`: implementation shortfall and its decomposition, benchmarks, participation,
markouts), read from the journal by :mod:`engine.tca_parent`; ``--png OUT.png`` also draws
it (:func:`engine.plotting.plot_tca`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any, TextIO

from engine.events import PRICE_SCALE, CancelReject
from engine.journal import JournalError, Kind, Record, read_records

__all__ = ["add_tca_arguments", "child_trail", "run_tca"]


class TcaError(ValueError):
    """The journal has no such child, or cannot be read."""


def _fee(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fee-bps must be a number, got {text!r}") from None
    if not 0 <= value < 1e4:
        raise argparse.ArgumentTypeError(f"--fee-bps must be in [0, 10000), got {text}")
    return value


def add_tca_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--journal", type=Path, required=True, metavar="PATH")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--child", metavar="CLORDID", help="why this child order was sent")
    who.add_argument(
        "--parent",
        metavar="ID",
        help="the post-trade analysis of this parent (its engine id, e.g. UNWxxP1)",
    )
    p.add_argument(
        "--fee-bps", type=_fee, default=0.0, help="fees in bps of the filled notional (--parent)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.add_argument(
        "--png",
        type=Path,
        metavar="OUT.png",
        help="also write the report as a PNG: price and fills, plan against actual, "
        "participation against the cap, the regime timeline (--parent)",
    )


def child_trail(path: Path, cl_ord_id: str) -> dict[str, Any]:
    """Everything the journal says about why ``cl_ord_id`` was sent and what became of it."""
    own = list(read_records(path, child=cl_ord_id))
    sent = next((r for r in own if r.kind is Kind.CHILD), None)
    if sent is None:
        raise TcaError(f"{path} has no child order {cl_ord_id}")
    order = sent.value()
    extra = sent.extra()
    parent = sent.parent
    plan = None
    if parent is not None:
        for r in read_records(path, parent=parent):
            if r.seq > sent.seq:
                break
            if r.kind is Kind.PLAN:
                plan = r
    # The gate's run that let it out: the last one on its id (denials before it named the id too).
    runs = [r for r in own if r.kind is Kind.VERDICTS and r.seq < sent.seq]
    gate = runs[-1] if runs else None
    trail: dict[str, Any] = {
        "child": cl_ord_id,
        "parent": parent,
        "sent_ns": sent.ts_ns,
        "order": {
            "side": order.side.value,
            "qty": order.qty,
            "price": None if order.price is None else order.price / PRICE_SCALE,
            "tif": order.tif.value,
            "display_qty": order.display_qty,
        },
        "why": extra.get("why"),
        "regime": extra.get("regime"),
        "policy": extra.get("policy"),
        "plan": None if plan is None else _plan_at(plan, sent.ts_ns),
        "gate": None if gate is None else gate.value(),
        "after": [_event(r) for r in own if r.seq > sent.seq],
    }
    return trail


def _plan_at(plan: Record, ts_ns: int) -> dict[str, Any]:
    p = plan.value()
    targets = p["cum_targets"]
    k = min(max((ts_ns - p["start_ns"]) // p["bucket_ns"], 0), len(targets) - 1)
    return {
        "strategy": p["strategy"],
        "reason": p["reason"],
        "made_ns": plan.ts_ns,
        "start_ns": p["start_ns"],
        "bucket_s": p["bucket_ns"] / 1e9,
        "bucket": k,
        "buckets": len(targets),
        # Shares since the plan's start, by the end of the child's bucket and of the plan.
        "target_by_bucket_end": targets[k],
        "target_total": targets[-1],
        "filled_at_plan_start": p["filled_at_start"],
    }


def _event(r: Record) -> dict[str, Any]:
    out: dict[str, Any] = {"ts_ns": r.ts_ns, "kind": r.kind.value}
    if r.kind is not Kind.VENUE:
        return out
    v = r.value()
    if isinstance(v, CancelReject):
        out.update(exec_type="cancel_reject", ord_status=None, reason=v.reason)
        return out
    out.update(
        exec_type=v.exec_type.value,
        ord_status=v.ord_status.value,
        last_qty=v.last_qty,
        cum_qty=v.cum_qty,
        text=v.text,
    )
    if v.last_price is not None:
        out["last_price"] = v.last_price / PRICE_SCALE
    return out


def _time(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def _text(t: dict[str, Any]) -> str:
    o = t["order"]
    price = "market" if o["price"] is None else f"limit {o['price']:.2f}"
    lines = [
        f"child {t['child']} of parent {t['parent']}: {o['side']} {o['qty']:,} {price} "
        f"{o['tif']}, sent {_time(t['sent_ns'])}",
        f"  why:     {t['why']}",
        f"  regime:  {t['regime']}",
    ]
    pol = t["policy"]
    if pol:
        lines.append(
            f"  policy:  passive {pol['passive_fraction']:.0%}, child <= "
            f"{pol['max_child_depth_frac']:.0%} of depth, display {pol['display_frac']:.0%}, "
            f"time jitter {pol['time_jitter']:.0%}, size jitter {pol['size_jitter']:.0%}"
        )
    p = t["plan"]
    if p is not None:
        lines.append(
            f"  plan:    {p['strategy']} ({p['reason']}), made {_time(p['made_ns'])}, from "
            f"{_time(p['start_ns'])} in {p['buckets']} buckets of {p['bucket_s']:g} s"
        )
        lines.append(
            f"           bucket {p['bucket'] + 1}: {p['target_by_bucket_end']:,} of "
            f"{p['target_total']:,} shares by its end (since the plan's start)"
        )
    g = t["gate"]
    if g is not None:
        clips = "; ".join(f"{v[0]} {v[1]} to {v[2]:,} ({v[3]}): {v[4]}" for v in g["verdicts"])
        lines.append(
            f"  gate:    asked {g['asked']:,}, granted {g['granted']:,}"
            + (f"; {clips}" if clips else ", no check clipped it")
        )
    for e in t["after"]:
        what = e["kind"]
        if e["kind"] == "venue":
            what = f"venue {e['exec_type']} {e.get('ord_status') or ''}".rstrip()
            if e.get("last_qty"):
                what += f", {e['last_qty']:,} at {e.get('last_price', 0):.2f}"
            if e.get("cum_qty") is not None:
                what += f" (cum {e['cum_qty']:,})"
        lines.append(f"  {_time(e['ts_ns'])}  {what}")
    return "\n".join(lines) + "\n"


def run_tca(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    """Run ``unwind tca``; return the exit code (2: no such child or parent, or no journal)."""
    if args.parent is not None:
        from engine.tca_parent import ParentNotFound, parent_trace

        try:
            trace = parent_trace(args.journal, args.parent)
            tca = trace.tca(fee_bps=args.fee_bps)
        except (ParentNotFound, JournalError, ValueError) as exc:
            err.write(f"unwind tca: {exc}\n")
            return 2
        if args.png is not None:
            from engine.plotting import plot_tca

            try:
                plot_tca(trace, tca, args.png)
            except OSError as exc:
                err.write(f"unwind tca: cannot write {args.png}: {exc.strerror or exc}\n")
                return 2
        if args.json:
            d = dataclasses.asdict(tca)
            d["side"] = tca.side.value
            d["markouts_bps"] = {f"{h:g}s": v for h, v in tca.markouts_bps.items()}
            out.write(json.dumps(d) + "\n")
        else:
            out.write(f"parent {args.parent}\n" + "\n".join(tca.lines()) + "\n")
        return 0
    if args.png is not None:
        err.write("unwind tca: --png draws a parent's report: use it with --parent\n")
        return 2
    try:
        trail = child_trail(args.journal, args.child)
    except (TcaError, JournalError) as exc:
        err.write(f"unwind tca: {exc}\n")
        return 2
    out.write(json.dumps(trail) + "\n" if args.json else _text(trail))
    return 0
