"""Closed-trade records that cost the same for the thousandth trade as for the first.

NautilusTrader 1.231's Portfolio records the realized PnL of every closed position into its PortfolioAnalyzer as it
happens (`PortfolioAnalyzer.record_trade`), by `pd.concat` of the whole series so far with a one-row series, twice
per close (the PnL and its timestamp). That is O(closed positions) per close, on the event loop: in a live node the
latency of every quote grows with the session's trade count (docs/platform.md, "A 1.231 regression"). 1.221 did not
record trades live.

`install_linear_trade_record(portfolio.analyzer)` keeps the analyzer and what it reports unchanged, and makes recording
O(1): each close is appended to a pending list, and the pending rows are concatenated once, when anything reads
the analyzer's recorded series (the analyzer's statistics, `realized_pnls`, a report). The analyzer stays
Nautilus' own object; only its `record_trade` and its two recorded-series tables are replaced on the instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd


class _PendingSeries(dict):
    """A `{currency: pd.Series}` table with rows not yet concatenated: every read folds them in first."""

    def __init__(self, existing: dict[Any, pd.Series], dtype: Any) -> None:
        super().__init__(existing)
        self._dtype = dtype
        self._pending: dict[Any, tuple[list[Any], list[str]]] = {}

    def append(self, currency: Any, value: Any, index: str) -> None:
        values, labels = self._pending.setdefault(currency, ([], []))
        values.append(value)
        labels.append(index)

    def _fold(self) -> None:
        for currency, (values, labels) in self._pending.items():
            rows = pd.Series(values, index=labels, dtype=self._dtype)
            existing = dict.get(self, currency)
            dict.__setitem__(self, currency, rows if existing is None else pd.concat([existing, rows]))
        self._pending.clear()

    # Every way the analyzer reads the table.
    def __getitem__(self, key: Any) -> pd.Series:
        self._fold()
        return dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._fold()
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        self._fold()
        return dict.__contains__(self, key)

    def __iter__(self) -> Iterator[Any]:
        self._fold()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._fold()
        return dict.__len__(self)

    def keys(self) -> Any:
        self._fold()
        return dict.keys(self)

    def values(self) -> Any:
        self._fold()
        return dict.values(self)

    def items(self) -> Any:
        self._fold()
        return dict.items(self)

    def __repr__(self) -> str:
        self._fold()
        return dict.__repr__(self)


def install_linear_trade_record(analyzer: Any) -> None:
    """Make a PortfolioAnalyzer's `record_trade` O(1): `node.portfolio.analyzer` once the node (or BacktestEngine)
    is built."""
    def tables() -> tuple[_PendingSeries, _PendingSeries]:
        # Re-wrapped after the analyzer's reset(), which assigns fresh plain dicts.
        pnls, stamps = analyzer._recorded_realized_pnls, analyzer._recorded_realized_pnl_timestamps
        if not isinstance(pnls, _PendingSeries):
            pnls = analyzer._recorded_realized_pnls = _PendingSeries(pnls, "float64")
        if not isinstance(stamps, _PendingSeries):
            stamps = analyzer._recorded_realized_pnl_timestamps = _PendingSeries(stamps, object)
        return pnls, stamps

    def record_trade(position_id: Any, realized_pnl: Any, ts_event: int | None = None) -> None:
        pnls, stamps = tables()
        currency = realized_pnl.currency
        pnls.append(currency, realized_pnl.as_double(), position_id.value)
        stamps.append(currency, int(ts_event) if ts_event is not None else None, position_id.value)

    tables()
    analyzer.record_trade = record_trade
