"""The scene and catalog venues: a recorded market played into the live node, at its pace times `speed`, with
Nautilus' Sandbox filling at the recorded prices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nautilus_trader.model.identifiers import InstrumentId

from sextant.config import ConfigError
from sextant.market.importer import InstrumentTerms, import_data
from sextant.state import messages
from sextant.state.layout import Venue
from sextant.swarm.intent import AgentIntent, RiskBudget
from tests.engine.conftest import engine_config, run_engine
from tests.fixtures.public_data import public_csv

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_a_catalog_of_real_fx_bars_plays_as_a_venue_and_fills_at_its_prices(tmp_path: Path,
                                                                            events_of: Any) -> None:
    catalog = tmp_path / "catalog"
    import_data(public_csv("EURUSD.csv"), catalog, InstrumentTerms(taker_fee=0.00002))

    def schedule(parts: Any, loop: Any) -> None:
        loop.call_later(2.0, lambda: parts.strategy.propose(AgentIntent(
            id="buy-eur", agent="test-agent", kind="GammaScalp", instrument="EURUSD.SIM", confidence=0.8,
            target_position=parts.config.base_size, budget=RiskBudget(max_loss=10_000.0, max_position=1_000.0))))

    parts, collected = run_engine(engine_config(tmp_path, venue="catalog", market=str(catalog), speed=10_000.0,
                                                autonomy="AUTO", duration_s=6.0), schedule)
    assert parts.config.instrument == "EURUSD.SIM" and parts.config.base_size == 933  # 1 % of 100,000 at 1.0716
    record = parts.context.record
    assert int(record["venue"]) == int(Venue.SCENE) and 1.0 < float(record["mid"]) < 1.3
    fills = events_of(collected, messages.OrderFilled)
    submitted = events_of(collected, messages.OrderSubmitted)
    assert submitted and submitted[0].order_type == "LIMIT" and submitted[0].time_in_force == "IOC"
    assert fills and fills[0].instrument == "EURUSD.SIM"
    assert sum(f.fill_quantity for f in fills) == submitted[0].quantity  # in EUR, the risk field's share of 933
    price = fills[0].fill_price
    assert abs(price * 1e5 - round(price * 1e5)) < 1e-6  # on the 0.00001 tick
    assert fills[0].commission == pytest.approx(fills[0].fill_quantity * price * 0.00002, abs=0.006)
    account = parts.node.cache.account_for_venue(InstrumentId.from_str("EURUSD.SIM").venue)
    assert account is not None and str(account.base_currency) == "USD"


def test_a_scene_plays_its_recorded_quotes(tmp_path: Path) -> None:
    from sextant.replay.format import read_table

    scene = REPO_ROOT / "scenes" / "chop"
    parts, _ = run_engine(engine_config(tmp_path, venue="scene", market=str(scene), speed=50.0, duration_s=3.0))
    quotes = read_table(scene, "quotes")
    recorded = {(b + a) / 2 for b, a in zip(quotes.column("bid").to_pylist(), quotes.column("ask").to_pylist(),
                                            strict=True)}
    assert float(parts.context.record["mid"]) in recorded  # a mid the scene recorded, not the model's


def test_the_recorded_venues_need_a_market(tmp_path: Path) -> None:
    from sextant.config import load_config

    with pytest.raises(ConfigError, match="plays a recorded market"):
        load_config(None, environ={"SEXTANT_VENUE": "catalog"})


def test_a_scene_the_venue_cannot_play_is_refused_before_anything_starts(tmp_path: Path) -> None:
    from sextant.engine.node import build_engine

    with pytest.raises(ConfigError, match=r"SEXTANT_MARKET=.*metadata.json: missing"):
        build_engine(engine_config(tmp_path, venue="scene", market=str(tmp_path / "nowhere")))
    assert not (tmp_path / "context.mmap").exists()
