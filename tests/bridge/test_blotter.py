"""The orders as they stand (sextant/bridge/blotter.py), built from the engine's order events: a filled limit
reads FILLED, not SENT; a resting one is working; a stop is a stop-loss; fills and E-STOP moments are kept for the
chart."""

from __future__ import annotations

from sextant.bridge.blotter import Blotter
from sextant.state import messages

INSTRUMENT = "BTC-USDT-SWAP.OKX"


def submitted(order_id: str, **fields: object) -> messages.OrderSubmitted:
    values: dict = {"side": "BUY", "order_type": "LIMIT", "time_in_force": "GTC", "quantity": 2.0,
                    "price": 60_000.0} | fields
    return messages.OrderSubmitted(client_order_id=order_id, instrument=INSTRUMENT, **values)


def filled(order_id: str, quantity: float, price: float) -> messages.OrderFilled:
    return messages.OrderFilled(client_order_id=order_id, instrument=INSTRUMENT, side="BUY", fill_price=price,
                                fill_quantity=quantity)


def test_a_limit_works_then_fills_in_parts_at_an_average_price() -> None:
    blotter = Blotter()
    blotter.apply(submitted("O-1", post_only=True), 1)
    assert [o.status for o in blotter.working()] == ["WORKING"] and blotter.working()[0].role == "post-only limit"
    blotter.apply(filled("O-1", 1.0, 60_000.0), 2)
    assert blotter.orders["O-1"].status == "PARTIAL" and blotter.working()
    blotter.apply(filled("O-1", 1.0, 60_010.0), 3)
    order = blotter.orders["O-1"]
    assert order.status == "FILLED" and order.average_price == 60_005.0 and not blotter.working()
    assert [(f.ts_ns, f.price) for f in blotter.fills] == [(2, 60_000.0), (3, 60_010.0)]


def test_stops_are_named_for_what_they_do_and_rest_at_their_trigger() -> None:
    blotter = Blotter()
    blotter.apply(submitted("S-1", side="SELL", order_type="STOP_MARKET", price=None, trigger_price=58_800.0,
                            reduce_only=True), 1)
    blotter.apply(submitted("T-1", side="SELL", order_type="TRAILING_STOP_MARKET", price=None,
                            trigger_price=59_700.0), 2)
    blotter.apply(submitted("W-1", order_type="MARKET", price=None, exec_algorithm="TWAP"), 3)
    assert [(o.role, o.level) for o in blotter.working()] == [("stop-loss", 58_800.0), ("trailing stop", 59_700.0),
                                                              ("TWAP slice", None)]


def test_cancels_refusals_and_dry_runs_are_not_working() -> None:
    blotter = Blotter()
    blotter.apply(submitted("O-1"), 1)
    blotter.apply(messages.OrderCanceled(client_order_id="O-1", reason="intent TTL elapsed"), 2)
    blotter.apply(submitted("O-2"), 3)
    blotter.apply(messages.OrderRejected(client_order_id="O-2", reason="notional above the cap", denied=True), 4)
    blotter.apply(submitted("O-3", dry_run=True), 5)
    assert not blotter.working()
    assert [(o.client_order_id, o.status, o.detail) for o in blotter.recent(3)] == [
        ("O-3", "DRY RUN", ""), ("O-2", "DENIED", "notional above the cap"), ("O-1", "CANCELED", "intent TTL elapsed")]


def test_e_stop_moments_are_kept_on_the_engine_clock() -> None:
    blotter = Blotter()
    blotter.apply(messages.EStopChanged(state="ENGAGED", trading_state="HALTED"), 10)
    blotter.apply(messages.EStopChanged(state="RELEASED", trading_state="ACTIVE"), 20)
    assert [(m.ts_ns, m.state) for m in blotter.estops] == [(10, "ENGAGED"), (20, "RELEASED")]


def test_with_several_instruments_each_ones_orders_and_fills_are_its_own() -> None:
    blotter = Blotter()
    blotter.apply(submitted("O-1"), 1)
    blotter.apply(messages.OrderSubmitted(client_order_id="O-2", instrument="ETH-USDT-SWAP.OKX", side="SELL",
                                          order_type="STOP_MARKET", time_in_force="GTC", quantity=3.0,
                                          trigger_price=3_200.0, reduce_only=True), 2)
    blotter.apply(messages.OrderFilled(client_order_id="O-3", instrument="ETH-USDT-SWAP.OKX", side="BUY",
                                       fill_price=3_100.0, fill_quantity=1.0), 3)
    assert [o.client_order_id for o in blotter.working("ETH-USDT-SWAP.OKX")] == ["O-2"]
    assert [o.client_order_id for o in blotter.working(INSTRUMENT)] == ["O-1"]
    assert [o.client_order_id for o in blotter.recent(10, "ETH-USDT-SWAP.OKX")] == ["O-3", "O-2"]
    assert [f.price for f in blotter.fills_of("ETH-USDT-SWAP.OKX")] == [3_100.0] and not blotter.fills_of(INSTRUMENT)
    assert len(blotter.working()) == 2, "no instrument named: every order"
