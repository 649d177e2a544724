"""Each execution style reaches the Sandbox as the right Nautilus order type and time in force."""

from __future__ import annotations

from typing import Any

import pytest
from nautilus_trader.model.enums import OrderStatus, OrderType, TimeInForce

from sextant.engine.strategy import POST_ONLY_REPOSTS
from sextant.state import messages
from tests.engine.conftest import engine_config, intent, run_engine

PLAN = [  # (seconds after start, intent id, kind, target offset from the position then, extra fields)
    (1.0, "t-market", "TrendFollow", +1.0, {"style": "MARKET"}),
    (2.0, "t-limit", "MeanReversion", -1.0, {}),
    (3.0, "t-trailing", "TrendFollow", +1.0, {}),
    (4.0, "t-twap", "DeltaHedge", +2.0, {"horizon_s": 4.0}),
    (9.0, "t-ioc", "GammaScalp", -1.0, {}),
    (10.0, "t-fok", "TrendFollow", +1.0, {"all_or_nothing": True}),
]


@pytest.fixture(scope="module")
def styles_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list]:
    tmp_path = tmp_path_factory.mktemp("styles")

    def schedule(parts: Any, loop: Any) -> None:
        strategy = parts.strategy
        for delay, intent_id, kind, offset, extra in PLAN:
            def propose(intent_id: str = intent_id, kind: str = kind, offset: float = offset,
                        extra: dict = extra) -> None:
                position = float(strategy.portfolio.net_position(strategy.desks[0].instrument_id) or 0)
                strategy.propose(intent(intent_id, kind, position + offset, **extra))
            loop.call_later(delay, propose)

    return run_engine(engine_config(tmp_path, autonomy="AUTO", duration_s=12.0), schedule)


def orders_for(parts: Any, intent_id: str) -> list[Any]:
    return [o for o in parts.node.cache.orders() if f"intent:{intent_id}" in (o.tags or [])
            or (o.exec_spawn_id is not None and f"intent:{intent_id}" in (parts.node.cache.order(o.exec_spawn_id).tags
                                                                           or []))]


@pytest.mark.slow
@pytest.mark.parametrize(("intent_id", "order_type", "tif", "post_only"), [
    ("t-market", OrderType.MARKET, TimeInForce.GTC, False),
    ("t-limit", OrderType.LIMIT, TimeInForce.GTC, True),
    ("t-trailing", OrderType.TRAILING_STOP_MARKET, TimeInForce.GTC, False),
    ("t-ioc", OrderType.LIMIT, TimeInForce.IOC, False),
    ("t-fok", OrderType.LIMIT, TimeInForce.FOK, False),
])
def test_each_style_is_the_right_nautilus_order(styles_run: tuple[Any, list], intent_id: str, order_type: OrderType,
                                                tif: TimeInForce, post_only: bool) -> None:
    parts, _ = styles_run
    orders = sorted(orders_for(parts, intent_id), key=lambda order: order.ts_init)
    if post_only:
        # A post-only limit the book ran through on its way to the venue (a loaded machine is slow enough) is
        # rejected as a would-be taker and re-posted at the new passive touch, at most POST_ONLY_REPOSTS times.
        assert 1 <= len(orders) <= 1 + POST_ONLY_REPOSTS
        assert all(order.status == OrderStatus.REJECTED for order in orders[:-1])
    else:
        assert len(orders) == 1
    for order in orders:
        assert order.order_type == order_type
        assert order.time_in_force == tif
        assert order.is_post_only == post_only


@pytest.mark.slow
def test_the_trailing_stop_is_emulated_with_a_basis_point_offset(styles_run: tuple[Any, list]) -> None:
    parts, _ = styles_run
    (order,) = orders_for(parts, "t-trailing")
    assert order.emulation_trigger.name == "BID_ASK"
    assert order.trailing_offset_type.name == "BASIS_POINTS" and float(order.trailing_offset) == 50.0


@pytest.mark.slow
def test_twap_slices_arrive_spaced_by_the_interval(styles_run: tuple[Any, list]) -> None:
    parts, collected = styles_run
    slices = [m for m in collected if isinstance(m.message, messages.OrderSubmitted)
              and m.message.intent_id == "t-twap"]
    assert len(slices) >= 4
    assert all(s.message.exec_algorithm == "TWAP" and s.message.order_type == "MARKET" for s in slices)
    gaps = [(b.ts_ns - a.ts_ns) / 1e9 for a, b in zip(slices, slices[1:], strict=False)]
    assert all(0.8 <= gap <= 1.5 for gap in gaps), gaps
    fills = [m.message for m in collected if isinstance(m.message, messages.OrderFilled)
             and m.message.intent_id == "t-twap"]
    assert sum(f.fill_quantity for f in fills) == pytest.approx(2.0)


@pytest.mark.slow
def test_submissions_and_fills_are_events(styles_run: tuple[Any, list]) -> None:
    _, collected = styles_run
    submitted = {m.message.intent_id for m in collected if isinstance(m.message, messages.OrderSubmitted)}
    assert {"t-market", "t-limit", "t-trailing", "t-twap", "t-ioc", "t-fok"} <= submitted
    fills = [m.message for m in collected if isinstance(m.message, messages.OrderFilled)]
    market_fill = [f for f in fills if f.intent_id == "t-market"]
    assert market_fill and market_fill[0].liquidity == "TAKER" and market_fill[0].fill_quantity == 1.0
    approved = [m.message for m in collected if isinstance(m.message, messages.IntentApproved)]
    assert {a.intent_id for a in approved} >= {"t-market", "t-fok"} and all(a.by == "auto" for a in approved)
