"""A portfolio engine stood in for, in this process: the fixture feed's scene (tests/fixtures/bridge_feed.py) on the
first instrument, BTC-USDT-SWAP, and more instruments beside it, each with its own tick, price, position, delta and
crew states; the account (net delta, leverage, concentration) is the portfolio's. Stepped like the feed: one second
of engine time per step, on the same virtual clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sextant.bridge.link import LinkStatus, Tick
from sextant.bridge.model import BridgeModel
from sextant.state.context import ContextReader, ContextWriter, encode_text
from sextant.state.layout import CODE_BYTES, CrewState, CrewTask, HullDimension, TraceKind
from tests.fixtures.bridge_feed import Feed, clock_at

# id, tick, multiplier, first mid, position (contracts), delta limit (base asset)
INSTRUMENTS: tuple[tuple[str, float, float, float, float, float], ...] = (
    ("BTC-USDT-SWAP.OKX", 0.1, 0.01, 91_250.0, 0.0, 0.1),  # the feed's own: its position is the scene's
    ("ETH-USDT-SWAP.OKX", 0.01, 0.1, 3_120.55, -3.0, 0.4),
    ("SOL-USDT-SWAP.OKX", 0.001, 1.0, 142.123, 0.0, 20.0),
    ("XRP-USDT-SWAP.OKX", 0.0001, 100.0, 2.3456, 5.0, 2_000.0),
    ("DOGE-USDT-SWAP.OKX", 0.00001, 1_000.0, 0.12345, -12.0, 40_000.0),
    ("ADA-USDT-SWAP.OKX", 0.0001, 100.0, 0.7123, 0.0, 5_000.0),
    ("AVAX-USDT-SWAP.OKX", 0.001, 1.0, 38.456, 7.0, 50.0),
    ("LINK-USDT-SWAP.OKX", 0.001, 1.0, 23.456, -9.0, 100.0),
)
IDS = tuple(spec[0] for spec in INSTRUMENTS)
DELTA_LIMIT_USDT = 91_250.0  # the largest instrument limit at its mid: BTC's 0.1 × 10 contracts' worth


class FleetFeed(Feed):
    """`count` instruments (2 to 8) in one ContextWindow; slot 0 is the feed's scene."""

    def __init__(self, scene: str, context: str | Path, events: str | Path, count: int = 3) -> None:
        self.count = count
        self.mids = np.array([spec[3] for spec in INSTRUMENTS[:count]])
        super().__init__(scene, str(context), str(events))

    def _init_record(self) -> None:
        path = self.writer.path
        self.writer.remove()  # the feed's one-instrument file: this engine trades a fleet
        self.writer = ContextWriter(path, IDS[: self.count])
        self.writer.record["currency"] = encode_text("USDT", CODE_BYTES)
        for slot, (instrument, tick, multiplier, _, _, limit) in enumerate(INSTRUMENTS[: self.count]):
            fields = self.writer.slot(slot)
            fields["price_increment"], fields["size_increment"], fields["multiplier"] = tick, 1.0, multiplier
            fields["delta_limit"] = limit
            fields["base"] = encode_text(instrument.split("-")[0], CODE_BYTES)
        super()._init_record()
        self.writer.record["risk_applicable"][HullDimension.CONCENTRATION] = 1  # two instruments or more

    def step(self) -> None:
        super().step()  # the scene on slot 0, and the account
        now = clock_at(self.base_ns, self.step_number)
        notional = np.zeros(self.count)
        for slot, (_, tick, multiplier, first, position, _) in enumerate(INSTRUMENTS[: self.count]):
            fields = self.writer.slot(slot)
            if slot:
                self.mids[slot] *= float(np.exp(0.0003 * self.rng.standard_normal()))
                mid = round(float(self.mids[slot]) / tick * 2) * tick / 2  # a mid: on a tick or between two
                spread = tick * 2
                fields["bid"], fields["ask"], fields["mid"] = mid - spread / 2, mid + spread / 2, mid
                fields["spread_bps"] = spread / mid * 1e4
                fields["quote_count"] += 1
                fields["sea_state"] = 0.2 + 0.1 * slot
                fields["position_size"] = position
                fields["entry_price"] = first if position else 0.0
                fields["unrealized_pnl"] = (mid - first) * position * multiplier
                fields["realized_pnl"] = 3.5 * slot
                fields["crew_state"][: 5] = CrewState.THINKING
                fields["crew_task"][: 5] = CrewTask.ASKING_LLM
                self.writer.push_trace(TraceKind.QUOTE, mid, 1.0, now, slot)
            size, mid = float(fields["position_size"]), float(fields["mid"])
            fields["delta"] = size * multiplier
            fields["position_notional"] = notional[slot] = size * multiplier * mid
        account = self.writer.record
        equity = float(account["equity"])
        largest = int(np.argmax(np.abs(notional)))
        account["net_delta"], account["gross_notional"] = notional.sum(), np.abs(notional).sum()
        account["leverage"], account["largest_slot"] = np.abs(notional).sum() / equity, largest
        account["risk_x"][HullDimension.DELTA] = notional.sum()
        account["risk_limit"][HullDimension.DELTA] = DELTA_LIMIT_USDT
        account["risk_x"][HullDimension.CONCENTRATION] = abs(notional[largest]) / equity
        account["risk_x"][HullDimension.LEVERAGE] = np.abs(notional).sum() / equity
        self.writer.commit(now)
        self.writer.heartbeat(now)

    def clock(self) -> int:
        """The bridge's wall clock: the feed's, a millisecond on (as tests/bridge/conftest.py's feeds)."""
        return clock_at(self.base_ns, self.step_number) + 1_000_000


def portfolio(path: str | Path, count: int = 3) -> ContextWriter:
    """A committed ContextWindow of `count` instruments (2 or 3), each with a price between its ticks, a position
    and a delta of its own: BTC long 2 (20 % of its delta limit), ETH short 3 (75 %), SOL flat; the account's
    equity 100,000 USDT, net delta +888.84 USDT, leverage 0.0276, BTC the largest."""
    writer = ContextWriter(path, IDS[:count])
    writer.record["currency"] = encode_text("USDT", CODE_BYTES)
    rows = ((0.1, 0.01, 91_250.35, 2.0, 12.5, 0.02, 0.1), (0.01, 0.1, 3_120.555, -3.0, -4.25, -0.3, 0.4),
            (0.001, 1.0, 142.1235, 0.0, 0.0, 0.0, 20.0))
    for slot, (tick, multiplier, mid, position, unrealized, delta, limit) in enumerate(rows[:count]):
        fields = writer.slot(slot)
        fields["price_increment"], fields["multiplier"], fields["mid"] = tick, multiplier, mid
        fields["base"] = encode_text(IDS[slot].split("-")[0], CODE_BYTES)
        fields["bid"], fields["ask"], fields["quote_count"] = mid - tick / 2, mid + tick / 2, 10
        fields["position_size"], fields["unrealized_pnl"] = position, unrealized
        fields["position_notional"] = position * multiplier * mid
        fields["delta"], fields["delta_limit"] = delta, limit
        fields["sea_state"] = 0.1 * (slot + 1)
        fields["crew_state"][0] = (CrewState.ACTIVE, CrewState.ALERT, CrewState.IDLE)[slot]
    account = writer.record
    account["ts_ns"], account["equity"] = 1_000_000_000, 100_000.0
    account["crew_count"] = 1
    account["risk_x"][HullDimension.DELTA] = 888.84
    account["risk_limit"][HullDimension.DELTA] = DELTA_LIMIT_USDT
    account["risk_x"][HullDimension.LEVERAGE], account["risk_limit"][HullDimension.LEVERAGE] = 0.0276, 3.0
    account["risk_x"][HullDimension.CONCENTRATION] = 0.01825
    account["risk_limit"][HullDimension.CONCENTRATION] = 0.5
    account["risk_applicable"][:7] = (1, 0, 0, 1, 1 if count > 1 else 0, 1, 1)
    account["largest_slot"] = 0
    writer.commit(1_000_000_000)
    return writer


def model_of(path: str | Path, model: BridgeModel | None = None, now_s: float = 0.0) -> BridgeModel:
    """A model (a new one, or `model`) that has applied the file's current record, as the link hands it over."""
    model = model or BridgeModel()
    reader = ContextReader(path)
    try:
        model.apply(Tick(LinkStatus.LIVE, reader.snapshot(), [], 0.0, 0), now_s)
    finally:
        reader.close()
    return model
