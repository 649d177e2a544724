"""The screen: a family's rule on the same buckets, filled by a vectorised model instead of Nautilus.

Research evaluates in two stages (research/ratchet.py). The screen ranks many hypotheses cheaply; only the best few
of each round go on to Nautilus' BacktestEngine (research/backtest.py), and only Nautilus' result can accept one.
The screen takes the family's own targets on the window's own buckets (the same kernel, the same features) and
fills each change where Nautilus would, at the decision bucket's last row:

- quotes: a buy at the ask, a sell at the bid; what outgrows the touch's size one tick further (Nautilus' L1 book
  fills the rest a tick beyond);
- bars: at the bar's close (Nautilus' bar execution has moved the market through the bar by then, and its book has
  no spread of its own);
- trades: at the trade's price;

then `slippage_bps` against the order, and the instrument's taker fee on the notional. The equity curve and the
metrics are the ones Nautilus' fills go through (research/metrics.py), so the two stages differ only in the fills.
tests/research/test_screen.py bounds that difference on the same hypotheses.
"""

from __future__ import annotations

import numpy as np

from sextant.research.backtest import Fills
from sextant.research.data import Quotes
from sextant.research.families import WindowFeatures


def screen_fills(quotes: Quotes, features: WindowFeatures, targets: np.ndarray, base_size: float,
                 slippage_bps: float = 0.0) -> Fills:
    """The fills a per-bucket target path (in base sizes) would get, modelled as Nautilus fills them."""
    instrument = quotes.market_instrument()
    precision = instrument.size_precision
    held = np.round(np.concatenate(([0.0], targets)) * base_size, precision)
    change = np.diff(held)
    buckets = np.flatnonzero(change != 0)
    if len(buckets) == 0:
        return Fills.empty()
    quantity = change[buckets]
    rows = features.bucket_last_quote[buckets]
    buy = quantity > 0
    if quotes.bars is not None:
        price = np.asarray(quotes.bars[3], np.float64)[rows]
    elif quotes.trades is not None:
        price = np.asarray(quotes.trades[0], np.float64)[rows]
    else:
        tick = instrument.price_increment.as_double()
        touch = np.where(buy, quotes.ask[rows], quotes.bid[rows])
        depth = np.where(buy, quotes.ask_size[rows], quotes.bid_size[rows])
        size = np.abs(quantity)
        beyond = np.clip(size - depth, 0.0, None) / size  # the share filled a tick past the touch
        price = touch + np.where(buy, 1.0, -1.0) * beyond * tick
    price = price * (1.0 + np.where(buy, 1.0, -1.0) * slippage_bps * 1e-4)
    commission = np.abs(quantity) * price * quotes.multiplier * quotes.taker_fee
    return Fills(features.end_ns[buckets].astype(np.int64), quantity, price, commission)
