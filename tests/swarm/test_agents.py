"""The crew reads numbers from a ContextWindow record and proposes intents (or stays quiet)."""

from __future__ import annotations

import numpy as np

from sextant.state.layout import CrewTask, TraceKind, instrument_view_dtype
from sextant.swarm.agents.delta_hedge import DeltaHedgeAgent
from sextant.swarm.agents.mean_reversion import MeanReversionAgent
from sextant.swarm.agents.momentum import MomentumAgent
from sextant.swarm.agents.risk import RiskAgent

INSTRUMENT = "BTC-USDT-SWAP.OKX"


def record(**fields: object) -> np.void:
    r = np.zeros(1, instrument_view_dtype(0))[0]
    r["multiplier"], r["risk_warn"], r["risk_veto"] = 0.01, 1.0, 2.0
    r["risk_limit"][:7] = [6_000, 1, 1, 25, 0.5, 3, 0.05]  # the net delta's limit in USDT: 0.1 BTC at 60,000
    r["delta_limit"], r["mid"], r["instrument_count"] = 0.1, 60_000.0, 1
    r["horizon_s"][:4] = [10, 60, 300, 900]
    for name, value in fields.items():
        r[name] = value
    return r


def with_prices(r: np.void, prices: list[float]) -> np.void:
    for index, price in enumerate(prices):
        r["trace_kind"][index % 64] = TraceKind.QUOTE
        r["trace_price"][index % 64] = price
        r["trace_ts_ns"][index % 64] = index
    r["trace_count"] = len(prices)
    return r


class TestRiskAgent:
    def test_vetoes_at_the_threshold_and_warns_below(self) -> None:
        agent = RiskAgent()
        veto = agent.perceive(record(risk_total=2.0), INSTRUMENT, 1)
        assert veto is not None and veto.kind == "Veto" and agent.status[1] == CrewTask.RISK_VETO
        assert agent.perceive(record(risk_total=1.5), INSTRUMENT, 2) is None
        assert agent.status[1] == CrewTask.RISK_WARNING
        assert agent.perceive(record(risk_total=0.5), INSTRUMENT, 3) is None
        assert agent.status[1] == CrewTask.RISK_NOMINAL


class TestMomentum:
    def test_enters_with_the_move_and_exits_when_it_fades(self) -> None:
        agent = MomentumAgent()
        # 10 s momentum of 0.3 % against 50 % annualised volatility is a z-score far above 1.
        rising = record(momentum=np.array([0.003, 0, 0, 0]), volatility=np.array([0, 0.5, 0, 0]))
        entry = agent.perceive(rising, INSTRUMENT, 1)
        assert entry is not None and entry.target_position == 1.0 and entry.kind == "TrendFollow"
        holding_calm = record(position_size=1.0, momentum=np.array([0.0, 0, 0, 0]),
                              volatility=np.array([0, 0.5, 0, 0]))
        exit_ = agent.perceive(holding_calm, INSTRUMENT, 2)
        assert exit_ is not None and exit_.target_position == 0.0 and exit_.style == "MARKET"

    def test_no_volatility_estimate_means_no_signal(self) -> None:
        assert MomentumAgent().perceive(record(momentum=np.array([0.01, 0, 0, 0])), INSTRUMENT, 1) is None


class TestMeanReversion:
    def test_fades_a_stretched_price_using_the_chronological_trace(self) -> None:
        agent = MeanReversionAgent()
        # 70 events: the ring has wrapped; the latest price (last pushed) is a spike up.
        prices = [100.0 + 0.01 * (i % 3) for i in range(69)] + [101.0]
        intent = agent.perceive(with_prices(record(spread_bps=1.0), prices), INSTRUMENT, 1)
        assert intent is not None and intent.kind == "MeanReversion" and intent.target_position == -1.0

    def test_wide_spreads_mean_no_fading(self) -> None:
        prices = [100.0] * 30 + [101.0]
        assert MeanReversionAgent().perceive(with_prices(record(spread_bps=50.0), prices), INSTRUMENT, 1) is None


class TestDeltaHedge:
    def test_hedges_back_to_target_only_outside_the_band(self) -> None:
        agent = DeltaHedgeAgent()
        assert agent.perceive(record(position_size=3.0), INSTRUMENT, 1) is None  # 0.03 BTC, inside ±0.05
        hedge = agent.perceive(record(position_size=8.0), INSTRUMENT, 2)
        assert hedge is not None and hedge.kind == "DeltaHedge" and hedge.target_position == 0.0
        assert hedge.confidence == 0.08 / record()["delta_limit"]

    def test_in_a_portfolio_the_member_on_the_most_liquid_instrument_hedges_the_net_delta(self) -> None:
        """Net delta 4,800 USDT against a 6,000 limit (band ±3,000): the ETH member (slot 1, the deepest book)
        sells 1.6 ETH (16 contracts of 0.1) at 3,000; the BTC member, whose own delta is in the band, only
        watches."""
        portfolio = {"instrument_count": 3, "net_delta": 4_800.0, "net_delta_limit": 6_000.0, "hedge_slot": 1}
        eth = record(**portfolio, slot_index=1, multiplier=0.1, mid=3_000.0, position_size=4.0)
        hedge = DeltaHedgeAgent().perceive(eth, "ETH-USDT-SWAP.OKX", 1)
        assert hedge is not None and hedge.instrument == "ETH-USDT-SWAP.OKX"
        assert abs(hedge.target_position - (4.0 - 16.0)) < 1e-9
        assert abs(hedge.confidence - 0.8) < 1e-12 and "net delta" in hedge.title
        btc = record(**portfolio, slot_index=0, position_size=8.0)
        watcher = DeltaHedgeAgent()
        assert watcher.perceive(btc, INSTRUMENT, 1) is None
        assert watcher.status[1] == CrewTask.HEDGING_DELTA and watcher.status[2] == 4_800.0 / 60_000.0

    def test_in_a_portfolio_a_net_delta_inside_the_band_is_left_alone(self) -> None:
        flat_enough = record(instrument_count=3, net_delta=2_900.0, net_delta_limit=6_000.0, hedge_slot=0)
        assert DeltaHedgeAgent().perceive(flat_enough, INSTRUMENT, 1) is None


def test_agents_read_prices_never_sizes() -> None:
    """The original parsed "bid:<size> @ <price>" and took the size for the price. Here a steady price with wildly
    changing sizes is steady: no fade, no signal."""
    r = with_prices(record(spread_bps=1.0), [100.0] * 40)
    for index in range(40):
        r["trace_size"][index] = 1.0 if index % 2 else 5_000.0
    r["bid"], r["bid_size"] = 100.0, 5_000.0
    assert MeanReversionAgent().perceive(r, INSTRUMENT, 1) is None
