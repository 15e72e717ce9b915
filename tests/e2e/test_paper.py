"""`unwind paper` end to end: simulator, engine and OMS over real FIX sessions on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.paper import PaperOptions, run_paper


@pytest.mark.asyncio
@pytest.mark.slow
async def test_a_paper_session_fills_the_parent_within_the_cap_and_draws_its_chart(
    tmp_path: Path,
) -> None:
    chart = tmp_path / "paper.png"
    opts = PaperOptions(
        qty=20_000,
        minutes=5,
        speed=300,
        seed=4,
        warmup_s=60,
        chart=chart,
        data_dir=tmp_path / "fix",
        quiet=True,
    )
    assert await run_paper(opts) == 0
    assert chart.stat().st_size > 10_000


@pytest.mark.asyncio
@pytest.mark.slow
async def test_a_paper_order_the_engine_refuses_exits_1(tmp_path: Path) -> None:
    opts = PaperOptions(
        qty=5_000_000,
        minutes=1,
        speed=300,
        warmup_s=30,
        chart=None,
        data_dir=tmp_path / "fix",
        quiet=True,
    )
    assert await run_paper(opts) == 1
