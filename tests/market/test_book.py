"""The book the crew reads where the data has none: from bars (four prices in path order) and from trades."""

from __future__ import annotations

import numpy as np

from sextant.market.book import DEFAULT_DEPTH, bar_book, bar_path, centred_book


def test_a_bar_goes_to_the_extreme_nearer_its_open_first() -> None:
    path = bar_path(np.array([10.0, 10.0]), np.array([11.0, 13.0]), np.array([7.0, 9.5]), np.array([9.0, 12.0]))
    assert path[0].tolist() == [10.0, 11.0, 7.0, 9.0]  # the high is 1 away, the low 3: high first
    assert path[1].tolist() == [10.0, 9.5, 13.0, 12.0]  # the low is 0.5 away, the high 3: low first


def test_four_quotes_a_bar_a_quarter_apart_the_close_at_the_bars_time() -> None:
    hour = 3_600_000_000_000
    book = bar_book(np.array([hour, 2 * hour], np.uint64), np.array([10.0, 9.0]), np.array([11.0, 9.5]),
                    np.array([8.0, 8.0]), np.array([9.0, 9.25]), tick=0.25)
    assert book.ts_ns.tolist() == [hour // 4, hour // 2, 3 * hour // 4, hour,
                                   hour + hour // 4, hour + hour // 2, hour + 3 * hour // 4, 2 * hour]
    mids = (book.bid + book.ask) / 2
    assert mids.tolist() == [10.0, 11.0, 8.0, 9.0, 9.0, 9.5, 8.0, 9.25]


def test_the_synthesised_book_is_one_tick_either_side_with_the_default_depth() -> None:
    book = centred_book(np.array([1], np.uint64), np.array([100.0]), tick=0.5)
    assert (book.bid[0], book.ask[0]) == (99.5, 100.5)
    assert book.bid_size[0] == book.ask_size[0] == DEFAULT_DEPTH
