"""IntentCompiler: each intent kind maps to its execution style (docs/spec.md#the-crew), quantity = target −
position, and bad intents are rejected with reasons, never turned into orders."""

from __future__ import annotations

import math

import pytest

from sextant.swarm.compiler import CompileRejected, MarketView, compile_intent
from sextant.swarm.intent import AgentIntent, RiskBudget

MARKET = MarketView(bid=60_000.0, ask=60_000.2, position=0.0)


def intent(kind: str, target: float | None = 2.0, **fields: object) -> AgentIntent:
    budget = fields.pop("budget", RiskBudget(max_loss=1_000.0, max_position=5.0))
    return AgentIntent(id="i", agent="a", kind=kind, instrument="BTC-USDT-SWAP.OKX", target_position=target,  # type: ignore
                       budget=budget, horizon_s=fields.pop("horizon_s", 10.0), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "extra", "style", "tif", "price"), [
    ("TrendFollow", {}, "TRAILING_STOP", "GTC", None),
    ("MeanReversion", {}, "LIMIT", "GTC", 60_000.0),  # passive touch: the bid for a buy
    ("DeltaHedge", {}, "TWAP", "GTC", None),
    ("GammaScalp", {}, "IOC", "IOC", 60_000.2),  # marketable: the ask for a buy
    ("LiquidationCapture", {}, "IOC", "IOC", 60_000.2),
    ("TrendFollow", {"all_or_nothing": True}, "FOK", "FOK", 60_000.2),
    ("MeanReversion", {"style": "MARKET"}, "MARKET", "GTC", None),
])
def test_each_kind_compiles_to_its_style(kind: str, extra: dict, style: str, tif: str, price: float | None) -> None:
    directive = compile_intent(intent(kind, **extra), MARKET)
    assert directive is not None
    assert (directive.style, directive.time_in_force, directive.price) == (style, tif, price)
    assert directive.side == "BUY" and directive.quantity == 2.0


def test_trailing_stops_are_50_bps_and_twap_slices_fit_the_horizon() -> None:
    assert compile_intent(intent("TrendFollow"), MARKET).trailing_offset_bps == 50.0  # type: ignore[union-attr]
    twap = compile_intent(intent("DeltaHedge", horizon_s=10.0), MARKET)
    assert twap is not None and twap.twap_horizon_s == pytest.approx(10.0)
    assert twap.twap_interval_s is not None and twap.twap_interval_s >= 1.0
    assert "TWAP" in twap.plan


def test_quantity_is_target_minus_position_and_reductions_sell() -> None:
    """The original took the side from the target's sign: reducing a long of 4 to 1 bought. Here it sells 3."""
    long_four = MarketView(bid=60_000.0, ask=60_000.2, position=4.0)
    directive = compile_intent(intent("MeanReversion", target=1.0), long_four)
    assert directive is not None and directive.side == "SELL" and directive.quantity == 3.0


def test_hold_veto_and_already_at_target_compile_to_nothing() -> None:
    assert compile_intent(intent("Hold", target=None), MARKET) is None
    assert compile_intent(intent("Veto", target=None), MARKET) is None
    assert compile_intent(intent("TrendFollow", target=0.0), MARKET) is None


@pytest.mark.parametrize(("target", "reason"), [(math.nan, "not a finite number"), (math.inf, "not a finite number"),
                                                (-math.inf, "not a finite number"), (50.0, "max position")])
def test_bad_targets_are_rejected_with_reasons(target: float, reason: str) -> None:
    with pytest.raises(CompileRejected, match=reason):
        compile_intent(intent("TrendFollow", target=target), MARKET)


def test_budget_loss_and_min_notional_are_enforced() -> None:
    tight = RiskBudget(max_loss=1.0, max_position=5.0)  # 2 contracts ≈ 1,200 USDT: 0.5 % is 6 USDT
    with pytest.raises(CompileRejected, match="would lose"):
        compile_intent(intent("TrendFollow", budget=tight), MARKET)
    with pytest.raises(CompileRejected, match="below the minimum"):
        compile_intent(intent("TrendFollow", target=0.02), MarketView(bid=60_000.0, ask=60_000.2, position=0.0,
                                                                      min_notional=20.0))


def test_a_broken_book_is_rejected() -> None:
    with pytest.raises(CompileRejected, match="no usable book"):
        compile_intent(intent("TrendFollow"), MarketView(bid=60_000.2, ask=60_000.0, position=0.0))
    with pytest.raises(CompileRejected, match="not a finite number"):
        compile_intent(intent("TrendFollow"), MarketView(bid=math.nan, ask=60_000.0, position=0.0))


def test_the_risk_field_scales_size_and_can_refuse() -> None:
    assert compile_intent(intent("TrendFollow"), MARKET, size_factor=0.5).quantity == 1.0  # type: ignore[union-attr]
    assert compile_intent(intent("TrendFollow"), MARKET, size_factor=0.999).quantity == 2.0  # type: ignore
    with pytest.raises(CompileRejected, match="less than one lot"):
        compile_intent(intent("TrendFollow"), MARKET, size_factor=0.001)
    with pytest.raises(CompileRejected, match="not in"):
        compile_intent(intent("TrendFollow"), MARKET, size_factor=math.nan)
