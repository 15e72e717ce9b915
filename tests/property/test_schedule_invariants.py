"""Invariants every schedule keeps, across random parents, markets and models."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from strategies.cost_table import build_cost_table
from strategies.dp import optimal_allocation
from strategies.errors import InfeasibleScheduleError
from strategies.impact import LinearImpact, PowerLawImpact, SquareRootImpact
from strategies.planner import STRATEGIES, PlanRequest, plan
from strategies.schedule import Side, round_to_lots
from tests import naive

LOT = 100.0


@st.composite
def markets(draw):
    periods = draw(st.integers(1, 24))
    lots = draw(st.integers(1, 400))
    volumes = np.array(
        draw(st.lists(st.floats(0.0, 2e5), min_size=periods, max_size=periods)), dtype=float
    )
    cap = draw(st.sampled_from([None, 0.05, 0.15, 0.3, 1.0]))
    kind = draw(st.sampled_from(["linear", "power", "sqrt"]))
    if kind == "linear":
        model = LinearImpact(
            eta=draw(st.floats(1e-7, 1e-4)),
            gamma=draw(st.floats(0, 1e-7)),
            epsilon=draw(st.floats(0, 0.05)),
        )
    elif kind == "power":
        model = PowerLawImpact(
            eta=draw(st.floats(1e-6, 1e-2)),
            beta=draw(st.floats(0.2, 1.5)),
            epsilon=draw(st.floats(0, 0.05)),
        )
    else:
        model = SquareRootImpact(
            sigma=draw(st.floats(0.01, 2.0)),
            y=draw(st.floats(0.1, 2.0)),
            epsilon=draw(st.floats(0, 0.05)),
        )
    return dict(
        shares=lots * LOT,
        periods=periods,
        volumes=volumes,
        pov_cap=cap,
        model=model,
        side=draw(st.sampled_from(list(Side))),
        sigma=draw(st.floats(0.0, 2.0)),
        risk_aversion=draw(st.sampled_from([0.0, 1e-7, 1e-6])),
        horizon=1.0,
    )


@given(m=markets(), strategy=st.sampled_from(STRATEGIES))
def test_every_schedule_trades_exactly_the_parent_never_negative_never_above_cap(m, strategy):
    if strategy == "ac" and not isinstance(m["model"], LinearImpact):
        strategy = "dp"
    if m["model"].__class__ is SquareRootImpact and not np.all(m["volumes"] > 0):
        m["volumes"] = m["volumes"] + 1.0
    req = PlanRequest(strategy=strategy, lot=LOT, **m)
    try:
        s = plan(req)
    except InfeasibleScheduleError:
        # Only a cap, POV's rate, or a period with no one to trade with (square-root impact
        # at zero volume) can make a plan infeasible, and only when it truly is.
        rate = m["pov_cap"] if m["pov_cap"] is not None else 0.15
        room = np.floor(rate * m["volumes"] / LOT + 1e-9).sum() * LOT
        if strategy in ("dp", "pov"):
            assert room < m["shares"] * (1 + 1e-9) or (
                strategy == "dp" and isinstance(m["model"], SquareRootImpact)
            )
        else:
            # A fixed-shape strategy is refused only for breaking a cap that was asked for.
            assert m["pov_cap"] is not None
        return
    assert s.trades.sum() == m["shares"]
    assert s.holdings[0] == m["shares"] and s.holdings[-1] == 0.0
    assert np.all(s.trades >= 0.0)
    assert np.all(np.mod(s.trades, LOT) == 0.0)
    if m["pov_cap"] is not None:
        assert np.all(s.trades <= m["pov_cap"] * m["volumes"] * (1 + 1e-9) + 1e-9)


@given(m=markets())
def test_dp_optimum_is_never_worse_than_any_baseline_on_the_same_table(m):
    if isinstance(m["model"], SquareRootImpact):
        m["volumes"] = m["volumes"] + 1.0
    tau = m["horizon"] / m["periods"]
    try:
        table = build_cost_table(
            m["model"],
            shares=m["shares"],
            lot=LOT,
            periods=m["periods"],
            tau=tau,
            volumes=m["volumes"],
            pov_cap=m["pov_cap"],
            sigma=m["sigma"],
            risk_aversion=m["risk_aversion"],
            side=m["side"],
        )
    except InfeasibleScheduleError:
        return
    best = optimal_allocation(table.cost, table.total_lots, table.caps, holding_cost=table.holding)
    idx = np.arange(m["periods"])
    caps = None if m["pov_cap"] is None else m["pov_cap"] * m["volumes"]
    for strategy in ("twap", "vwap", "pov", "aggressive", "conservative"):
        req = PlanRequest(strategy=strategy, lot=LOT, **m)
        try:
            s = plan(req)
        except (InfeasibleScheduleError, ValueError):
            continue
        lots = np.round(s.trades / LOT).astype(np.int64)
        if caps is not None:
            assert np.all(lots <= table.caps)
        cost = table.cost[idx, np.minimum(lots, table.cost.shape[1] - 1)].sum()
        if table.holding is not None:
            cost += table.holding[idx, table.total_lots - np.cumsum(lots)].sum()
        assert best.total_cost <= cost + 1e-9 * max(1.0, abs(cost))


@given(
    n=st.integers(1, 6),
    k=st.integers(0, 8),
    data=st.data(),
    holes=st.booleans(),
    use_caps=st.booleans(),
)
def test_dp_general_path_equals_pure_python_reference(n, k, data, holes, use_caps):
    cost = np.array(
        data.draw(
            st.lists(
                st.lists(st.integers(0, 60), min_size=k + 1, max_size=k + 1), min_size=n, max_size=n
            )
        ),
        dtype=float,
    )
    if holes:
        mask = np.array(
            data.draw(st.lists(st.booleans(), min_size=cost.size, max_size=cost.size))
        ).reshape(cost.shape)
        cost[mask] = np.inf
    caps = (
        np.array(data.draw(st.lists(st.integers(0, k), min_size=n, max_size=n)))
        if use_caps
        else None
    )
    total = data.draw(st.integers(0, n * k))
    ref = naive.dp_triple_loop(cost, total, caps)
    try:
        got = optimal_allocation(cost, total, caps, method="general")
    except InfeasibleScheduleError:
        assert ref is None
        return
    assert ref is not None and got.total_cost == ref[1]
    assert got.lots.sum() == total
    if caps is not None:
        assert np.all(got.lots <= caps)


@given(n=st.integers(1, 12), k=st.integers(1, 15), data=st.data())
def test_dp_convex_path_equals_general_path(n, k, data):
    marginals = np.sort(
        np.array(
            data.draw(
                st.lists(
                    st.lists(st.integers(-20, 60), min_size=k, max_size=k), min_size=n, max_size=n
                )
            ),
            dtype=float,
        ),
        axis=1,
    )
    cost = np.hstack([np.zeros((n, 1)), np.cumsum(marginals, axis=1)])
    total = data.draw(st.integers(0, n * k))
    fast = optimal_allocation(cost, total)
    slow = optimal_allocation(cost, total, method="general")
    assert fast.method == "convex"
    assert fast.total_cost == slow.total_cost


@given(
    trades=st.lists(st.floats(0.0, 1e5), min_size=1, max_size=30),
    lot=st.sampled_from([1.0, 100.0, 250.0]),
)
def test_round_to_lots_keeps_total_and_stays_within_one_lot(trades, lot):
    t = np.array(trades)
    total_lots = np.floor(t.sum() / lot)
    assume(total_lots > 0)
    t = t * (total_lots * lot / t.sum())
    r = round_to_lots(t, lot)
    assert r.sum() == total_lots * lot
    assert np.all(np.abs(r - t) < lot + 1e-6)
