"""The live engine on a portfolio: the sim venue streams three correlated OKX swaps into one TradingNode, a crew
on each, one ContextWindow holding every instrument, and an E-stop from the bridge that flattens them all."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sextant.config import DEFAULT_PORTFOLIO, ConfigError, SextantConfig
from sextant.engine.config import EngineConfig
from sextant.engine.node import default_crews, traded_instruments
from sextant.state import messages
from sextant.state.context import ContextReader
from sextant.state.ring import CommandRingWriter
from sextant.swarm.agents.delta_hedge import DeltaHedgeAgent
from tests.engine.conftest import engine_config, intent, run_engine


def test_each_instrument_of_the_portfolio_has_its_crew_sized_in_its_own_lots(tmp_path: Path) -> None:
    config = engine_config(tmp_path, portfolio=DEFAULT_PORTFOLIO)
    traded = traded_instruments(config)
    assert [each.instrument_id for each in traded] == list(DEFAULT_PORTFOLIO)
    assert [(each.multiplier, each.base_size) for each in traded] == [(0.01, 1.67), (0.1, 3.33), (1.0, 6.67)]
    crews = default_crews(config, [each.base_size for each in traded])
    assert len({id(agent) for crew in crews for agent in crew}) == 15, "each instrument has its own members"
    assert [[agent.agent_id for agent in crew] for crew in crews][0] == [agent.agent_id for agent in crews[2]]


@pytest.mark.slow
def test_the_sim_venue_streams_every_instrument_into_its_slot_and_an_estop_flattens_all(tmp_path: Path) -> None:
    commands = CommandRingWriter(tmp_path / "commands.mmap")
    ids = list(DEFAULT_PORTFOLIO)

    def holding_all(parts: Any) -> bool:
        portfolio = parts.strategy.portfolio
        return all(not portfolio.is_flat(desk.instrument_id) for desk in parts.strategy.desks)

    def schedule(parts: Any, loop: Any) -> None:
        def enter() -> None:  # a long on each instrument, through each one's desk (compile → gate → execute)
            for number, instrument in enumerate(ids):
                proposal = intent(f"buy-{number}", "TrendFollow", 1.0, style="MARKET")
                parts.strategy.propose(msgspec.structs.replace(proposal, instrument=instrument))

        def stop_when_held() -> None:
            if holding_all(parts):
                commands.publish(messages.EStop(command_id="stop", engage=True), ts_ns=time.time_ns())
            else:
                loop.call_later(0.05, stop_when_held)

        loop.call_later(0.5, enter)
        loop.call_later(0.6, stop_when_held)

    parts, collected = run_engine(engine_config(tmp_path, portfolio=DEFAULT_PORTFOLIO, autonomy="AUTO",
                                                duration_s=4.0), schedule)
    snapshot = ContextReader(tmp_path / "context.mmap").snapshot()
    assert snapshot.instruments == ids
    for slot, instrument in enumerate(ids):
        seen = snapshot.at(slot)
        assert seen.instrument == instrument and int(seen["quote_count"]) > 10 and float(seen["mid"]) > 0
        assert float(seen["position_size"]) == 0.0, f"{instrument} flattened"
        # kept from the positions' own events, it is Nautilus' figure
        realized = parts.node.portfolio.realized_pnl(parts.strategy.desks[slot].instrument_id)
        assert float(seen["realized_pnl"]) == pytest.approx(realized.as_double(), abs=1e-9)
    changes = [m.message for m in collected if isinstance(m.message, messages.EStopChanged)]
    assert [c.state for c in changes] == ["ENGAGING", "ENGAGED"] and changes[-1].trading_state == "HALTED"
    fills = [m.message for m in collected if isinstance(m.message, messages.OrderFilled)]
    for instrument in ids:
        sides = [fill.side for fill in fills if fill.instrument == instrument]
        assert sides == ["BUY", "SELL"], f"{instrument}: entered, then closed by the E-stop"



@pytest.mark.parametrize(("settings", "reason"), [
    ({"engine": {"portfolio": ["BTC-USDT-SWAP.OKX", "DOGE-USDT-SWAP.OKX"]}}, "at most once"),
    ({"engine": {"portfolio": ["BTC-USDT-SWAP.OKX", "BTC-USDT-SWAP.OKX"]}}, "at most once"),
    ({"engine": {"portfolio": list(DEFAULT_PORTFOLIO), "venue": "scene", "market": "scenes/chop"}}, "one instrument"),
])
def test_a_portfolio_the_engine_cannot_trade_is_a_configuration_error(settings: dict, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        EngineConfig.from_settings(msgspec.convert(settings, SextantConfig))


@pytest.mark.slow
def test_the_net_delta_is_hedged_on_the_most_liquid_instrument_only(tmp_path: Path) -> None:
    """Longs on all three past half the net limit: the hedge member of the deepest book sells there; the other
    two members watch."""
    ids = list(DEFAULT_PORTFOLIO)

    def schedule(parts: Any, loop: Any) -> None:
        def enter() -> None:
            for number, (instrument, contracts) in enumerate(zip(ids, (8.0, 15.0, 20.0), strict=True)):
                proposal = intent(f"big-{number}", "TrendFollow", contracts, style="MARKET")
                parts.strategy.propose(msgspec.structs.replace(
                    proposal, instrument=instrument, budget=msgspec.structs.replace(proposal.budget,
                                                                                    max_position=50.0)))

        loop.call_later(0.5, enter)

    crews = [[DeltaHedgeAgent()] for _ in ids]
    parts, collected = run_engine(engine_config(tmp_path, portfolio=DEFAULT_PORTFOLIO, autonomy="AUTO",
                                                duration_s=4.0), schedule, crews=crews)
    generated = [m.message for m in collected if isinstance(m.message, messages.IntentGenerated)]
    hedges = [g for g in generated if g.intent_kind == "DeltaHedge"]
    assert hedges, "the net delta went past the band and nobody hedged it"
    hedge_slot = int(ContextReader(tmp_path / "context.mmap").snapshot()["hedge_slot"])
    assert {h.instrument for h in hedges} == {ids[hedge_slot]}
    assert all(h.side == "SELL" and "net delta" in h.title for h in hedges)
