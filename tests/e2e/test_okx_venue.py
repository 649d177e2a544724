"""The OKX venue: Nautilus' real OKX data and execution clients against an OKX v5 stand-in on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sextant.state import messages
from sextant.state.layout import Venue
from tests.conftest import free_port
from tests.engine.conftest import engine_config, intent, run_engine


@pytest.fixture
def okx_standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Start the stand-in and point Nautilus' OKX clients at it (they read these variables themselves)."""
    http_port, ws_port = free_port(), free_port()
    server = subprocess.Popen([sys.executable, "-m", "tests.fixtures.okx_standin", str(http_port), str(ws_port), "50"],
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    http, ws = f"http://127.0.0.1:{http_port}", f"ws://127.0.0.1:{ws_port}/ws/v5"
    for name, value in {"OKX_API_KEY": "standin-key", "OKX_API_SECRET": "standin-secret",
                        "OKX_API_PASSPHRASE": "standin-pass", "OKX_BASE_URL_HTTP": http}.items():
        monkeypatch.setenv(name, value)
    for prefix in ("OKX_BASE_URL_WS_", "OKX_DEMO_BASE_URL_WS_"):
        for channel in ("PUBLIC", "PRIVATE", "BUSINESS"):
            monkeypatch.setenv(prefix + channel, f"{ws}/{channel.lower()}")
    yield http
    server.terminate()
    server.wait(timeout=10)


def venue_orders(http: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{http}/standin/orders", timeout=5) as response:
        return json.loads(response.read())


def buy_at(delay: float) -> Any:
    def schedule(parts: Any, loop: Any) -> None:
        loop.call_later(delay, lambda: parts.strategy.propose(intent("okx-1", "TrendFollow", 1.0, style="MARKET")))
    return schedule


@pytest.mark.slow
def test_quotes_reach_the_context_window_and_an_order_is_filled(tmp_path: Path, okx_standin: str) -> None:
    parts, collected = run_engine(engine_config(tmp_path, venue="okx", autonomy="AUTO", duration_s=10.0), buy_at(6.0))
    record = parts.context.record
    assert record["venue"] == Venue.OKX
    assert record["quote_count"] > 50 and 59_000 < record["mid"] < 61_000
    events = [m.message for m in collected]
    submitted = [e for e in events if isinstance(e, messages.OrderSubmitted) and e.intent_id == "okx-1"]
    filled = [e for e in events if isinstance(e, messages.OrderFilled) and e.intent_id == "okx-1"]
    assert len(submitted) == 1 and submitted[0].order_type == "MARKET"
    assert len(filled) == 1 and filled[0].fill_quantity == 1.0 and filled[0].commission > 0
    (order,) = venue_orders(okx_standin)
    assert order["ordType"] == "market" and order["side"] == "buy" and float(order["sz"]) == 1.0


@pytest.mark.slow
def test_dry_run_sends_nothing_to_the_venue(tmp_path: Path, okx_standin: str) -> None:
    parts, collected = run_engine(engine_config(tmp_path, venue="okx", autonomy="AUTO", duration_s=8.0,
                                                dry_run=True), buy_at(5.0))
    submitted = [m.message for m in collected if isinstance(m.message, messages.OrderSubmitted)]
    assert [s.dry_run for s in submitted] == [True]
    assert parts.context.record["quote_count"] > 50
    assert venue_orders(okx_standin) == []  # checked on the venue side


@pytest.mark.slow
def test_fok_is_refused_rather_than_left_resting(tmp_path: Path, okx_standin: str) -> None:
    def schedule(parts: Any, loop: Any) -> None:
        loop.call_later(5.0, lambda: parts.strategy.propose(intent("okx-fok", "TrendFollow", 1.0,
                                                                   all_or_nothing=True)))
    parts, collected = run_engine(engine_config(tmp_path, venue="okx", autonomy="AUTO", duration_s=7.0), schedule)
    (rejected,) = [m.message for m in collected if isinstance(m.message, messages.OrderRejected)]
    assert rejected.denied and "FOK is refused on OKX" in rejected.reason
    assert venue_orders(okx_standin) == []
