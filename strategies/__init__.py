"""The numerical core: impact models, Almgren-Chriss, the exact DP, baselines, the planner.

Pure functions over numbers and arrays: no I/O, no clock, no asyncio. Time, when needed, is an
argument. See docs/strategies.md for the models and their units.
"""

from strategies.almgren_chriss import ACParameters, Frontier, almgren_chriss, efficient_frontier
from strategies.dp import Allocation, optimal_allocation
from strategies.errors import InfeasibleScheduleError, InvalidParameterError, StrategyError
from strategies.impact import (
    ImpactModel,
    LinearImpact,
    PowerLawImpact,
    SquareRootImpact,
    TableImpact,
)
from strategies.planner import STRATEGIES, PlanRequest, plan
from strategies.schedule import Schedule, Side

__all__ = [
    "STRATEGIES",
    "ACParameters",
    "Allocation",
    "Frontier",
    "ImpactModel",
    "InfeasibleScheduleError",
    "InvalidParameterError",
    "LinearImpact",
    "PlanRequest",
    "PowerLawImpact",
    "Schedule",
    "Side",
    "SquareRootImpact",
    "StrategyError",
    "TableImpact",
    "almgren_chriss",
    "efficient_frontier",
    "optimal_allocation",
    "plan",
]
