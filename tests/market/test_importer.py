"""`sextant data import`'s core: real files in each format into a NautilusTrader catalog, and bad rows named."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nautilus_trader.model.data import Bar, QuoteTick, TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from sextant.market.columns import DataError, detect, parse_mapping
from sextant.market.importer import ImportOptions, InstrumentTerms, bar_spec, import_data
from tests.fixtures.public_data import public_csv

HOUR_NS = 3_600_000_000_000


def bars_of(catalog: Path, bar_type: str) -> list[Bar]:
    return ParquetDataCatalog(str(catalog)).bars(bar_types=[bar_type])


class TestRealDataInEachFormat:
    def test_hourly_eurusd_bars_from_csv_become_fx_bars_stamped_at_their_close(self, tmp_path: Path) -> None:
        source = public_csv("EURUSD.csv")
        report = import_data(source, tmp_path, InstrumentTerms(taker_fee=0.00002))
        assert report.kind == "bars" and report.rows == 5_000
        assert report.bar_type == "EURUSD.SIM-1-HOUR-MID-EXTERNAL"
        instrument = report.instrument
        assert type(instrument).__name__ == "CurrencyPair" and str(instrument.quote_currency) == "USD"
        assert str(instrument.price_increment) == "0.00001" and report.tick_from_file  # read from the prices
        assert float(instrument.taker_fee) == 0.00002
        bars = bars_of(tmp_path, report.bar_type)
        assert len(bars) == 5_000
        first = next(csv.reader(source.open()))  # header
        row = next(r for i, r in enumerate(csv.reader(source.open())) if i == 1)
        assert first[1:5] == ["Open", "High", "Low", "Close"]
        opened = pd.Timestamp(row[0], tz="UTC").value
        assert bars[0].ts_event == opened + HOUR_NS  # the file stamps the open; Nautilus stamps the close
        assert [bars[0].open.as_double(), bars[0].high.as_double(), bars[0].low.as_double(),
                bars[0].close.as_double()] == [float(v) for v in row[1:5]]
        # weekends are gaps in an hourly FX series: reported, not refused
        assert report.gap_count > 40 and max(g.length_ns for g in report.gaps) > 48 * HOUR_NS

    def test_daily_goog_bars_become_an_equity_with_its_fees(self, tmp_path: Path) -> None:
        report = import_data(public_csv("GOOG.csv"), tmp_path,
                             InstrumentTerms(instrument_id="GOOG.NASDAQ", kind="equity", taker_fee=0.0005))
        assert report.rows == 2_148 and report.bar_type == "GOOG.NASDAQ-1-DAY-LAST-EXTERNAL"
        instrument = ParquetDataCatalog(str(tmp_path)).instruments()[0]
        assert type(instrument).__name__ == "Equity" and str(instrument.price_increment) == "0.01"
        assert float(instrument.taker_fee) == 0.0005 and str(instrument.size_increment) == "1"

    def test_parquet_with_epoch_milliseconds_gives_the_same_bars_as_the_csv(self, tmp_path: Path) -> None:
        frame = pd.read_csv(public_csv("EURUSD.csv"), index_col=0, parse_dates=True)
        table = pa.table({"timestamp": frame.index.tz_localize("UTC").asi8 // 1_000_000,
                          "o": frame["Open"], "h": frame["High"], "l": frame["Low"], "c": frame["Close"],
                          "vol": frame["Volume"].astype(float)})
        pq.write_table(table, tmp_path / "eurusd.parquet")
        from_parquet = import_data(tmp_path / "eurusd.parquet", tmp_path / "a", InstrumentTerms(
            instrument_id="EURUSD.SIM"))
        from_csv = import_data(public_csv("EURUSD.csv"), tmp_path / "b")
        assert "ts=timestamp" in from_parquet.columns
        a, b = bars_of(tmp_path / "a", from_parquet.bar_type or ""), bars_of(tmp_path / "b", from_csv.bar_type or "")
        assert [(x.ts_event, x.close.as_double()) for x in a] == [(x.ts_event, x.close.as_double()) for x in b]

    def test_a_nautilus_catalog_imports_row_for_row_and_checks_in_place(self, tmp_path: Path) -> None:
        first = import_data(public_csv("GOOG.csv"), tmp_path / "first",
                            InstrumentTerms(instrument_id="GOOG.NASDAQ", kind="equity", taker_fee=0.0005))
        copied = import_data(tmp_path / "first", tmp_path / "second")
        assert copied.rows == first.rows and copied.instrument == first.instrument
        assert bars_of(tmp_path / "second", first.bar_type or "") == bars_of(tmp_path / "first", first.bar_type or "")
        in_place = import_data(tmp_path / "first", tmp_path / "first")
        assert in_place.rows == first.rows and in_place.files == 0  # checked, nothing written

    def test_progress_is_reported_up_to_the_whole_file(self, tmp_path: Path) -> None:
        seen: list[tuple[int, int]] = []
        source = public_csv("EURUSD.csv")
        import_data(source, tmp_path, progress=lambda done, total: seen.append((done, total)))
        assert seen and seen[-1] == (source.stat().st_size, source.stat().st_size)
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)


class TestQuotesAndTrades:
    def test_quotes_with_their_own_spellings_epoch_ms_and_sizes(self, tmp_path: Path) -> None:
        path = tmp_path / "btc.csv"
        path.write_text("Time,Bid Price,Ask Price,Bid Qty,Ask Qty\n"
                        "1704067200000,42000.5,42001.0,1.25,0.5\n1704067200100,42000.0,42000.5,2,1\n")
        report = import_data(path, tmp_path / "c", InstrumentTerms(instrument_id="BTC-USDT.BINANCE", kind="spot"))
        quotes = ParquetDataCatalog(str(tmp_path / "c")).quote_ticks()
        assert report.kind == "quotes" and len(quotes) == 2
        assert quotes[0].ts_event == 1_704_067_200_000_000_000 and quotes[0].bid_price.as_double() == 42000.5
        assert quotes[0].bid_size.as_double() == 1.25
        # the tick and lot are read from the decimals the prices and sizes are written with
        assert str(report.instrument.price_increment) == "0.1" and str(report.instrument.size_increment) == "0.01"
        assert isinstance(quotes[0], QuoteTick)

    def test_a_mapping_names_columns_and_zone_less_times_take_the_zone_given(self, tmp_path: Path) -> None:
        path = tmp_path / "odd.csv"
        path.write_text("when,B,A\n2024-03-01 09:30:00,1.1,1.2\n2024-03-01 09:30:01,1.1,1.3\n")
        report = import_data(path, tmp_path / "c", InstrumentTerms(instrument_id="EURUSD.SIM"),
                             ImportOptions(columns=parse_mapping("ts=when,bid=B,ask=A"), tz="America/New_York"))
        assert report.first_ns == pd.Timestamp("2024-03-01 14:30:00", tz="UTC").value  # EST is UTC-5

    def test_trades_may_share_an_instant_even_across_chunks(self, tmp_path: Path) -> None:
        path = tmp_path / "trades.csv"
        rows = ["ts,price,qty,side"] + [f"{1_700_000_000 + i // 3},{100 + i % 5}.5,{i + 1},{'buy' if i % 2 else 'sell'}"
                                        for i in range(30)]
        path.write_text("\n".join(rows) + "\n")
        report = import_data(path, tmp_path / "c", InstrumentTerms(instrument_id="ABC-USD.SIM", kind="spot"),
                             ImportOptions(chunk_rows=4))
        trades: list[TradeTick] = ParquetDataCatalog(str(tmp_path / "c")).trade_ticks()
        assert report.kind == "trades" and len(trades) == 30 and report.files > 1
        assert trades[0].aggressor_side == AggressorSide.SELLER and trades[1].aggressor_side == AggressorSide.BUYER
        assert [t.size.as_double() for t in trades] == list(range(1, 31))

    def test_detection_prefers_quotes_then_bars_then_trades(self) -> None:
        assert detect(["ts", "bid", "ask", "close", "open", "high", "low"]).kind == "quotes"
        assert detect(["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]).kind == "bars"
        assert detect(["time", "price", "amount"]).kind == "trades"
        with pytest.raises(DataError, match="name them with --columns"):
            detect(["a", "b"])

    def test_bar_lengths_are_named_as_nautilus_names_them(self) -> None:
        assert bar_spec(HOUR_NS) == "1-HOUR" and bar_spec(15 * 60_000_000_000) == "15-MINUTE"
        assert bar_spec(24 * HOUR_NS) == "1-DAY" and bar_spec(31 * 24 * HOUR_NS) == "1-MONTH"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


class TestBadDataIsNamedByItsLine:
    """Each problem stops the import with the file's line; the catalog is left as it was."""

    def refused(self, tmp_path: Path, text: str, match: str, options: ImportOptions | None = None,
                terms: InstrumentTerms | None = None) -> None:
        catalog = tmp_path / f"catalog{len(list(tmp_path.glob('catalog*')))}"
        import_data(public_csv("GOOG.csv"), catalog, InstrumentTerms(instrument_id="GOOG.NASDAQ", kind="equity"))
        before = sorted(str(p.relative_to(catalog)) for p in catalog.rglob("*"))
        with pytest.raises(DataError, match=match):
            import_data(write(tmp_path / "bad.csv", text), catalog,
                        terms or InstrumentTerms(instrument_id="EURUSD.SIM"), options)
        assert sorted(str(p.relative_to(catalog)) for p in catalog.rglob("*")) == before

    def test_unsorted_times(self, tmp_path: Path) -> None:
        self.refused(tmp_path, "time,bid,ask\n2024-01-01T00:00:02Z,1.1,1.2\n2024-01-01T00:00:01Z,1.1,1.2\n",
                     r"bad.csv line 3: time 2024-01-01T00:00:01Z is before the previous row's")

    def test_a_repeated_time(self, tmp_path: Path) -> None:
        self.refused(tmp_path, "date,open,high,low,close\n2024-01-01,1,2,1,2\n2024-01-02,1,2,1,2\n"
                               "2024-01-02,1,2,1,2\n", r"line 4: time .* repeats the previous row's \(one bar")

    def test_a_crossed_book(self, tmp_path: Path) -> None:
        self.refused(tmp_path, "time,bid,ask\n2024-01-01T00:00:00Z,1.1,1.2\n2024-01-01T00:00:01Z,1.3,1.2\n",
                     r"line 3: crossed book, bid 1.3 above ask 1.2")

    def test_a_nan_or_empty_price(self, tmp_path: Path) -> None:
        self.refused(tmp_path, "time,bid,ask\n2024-01-01T00:00:00Z,1.1,1.2\n2024-01-01T00:00:01Z,NaN,1.2\n",
                     r"line 3: bid is nan")
        self.refused(tmp_path, "time,bid,ask\n2024-01-01T00:00:00Z,1.1,1.2\n2024-01-01T00:00:01Z,,1.2\n",
                     r"line 3: bid is nan")

    def test_a_bar_its_high_and_low_do_not_bound(self, tmp_path: Path) -> None:
        self.refused(tmp_path, "date,open,high,low,close\n2024-01-01,1,2,1,2\n2024-01-02,1,1.5,1,2\n",
                     r"line 3: the bar's high 1.5 and low 1.0 do not bound its open 1.0 and close 2.0")

    def test_a_gap_under_the_fail_policy(self, tmp_path: Path) -> None:
        lines = [f"2024-01-01T00:00:{s:02d}Z,1.1,1.2" for s in range(10)] + ["2024-01-01T01:00:00Z,1.1,1.2"]
        self.refused(tmp_path, "time,bid,ask\n" + "\n".join(lines) + "\n", r"line 12: a gap of 59\.\d min after 2024-01-01T00:00:09Z",
                     ImportOptions(gaps="fail"))

    def test_a_price_off_the_given_tick(self, tmp_path: Path) -> None:
        self.refused(tmp_path, "time,bid,ask\n2024-01-01T00:00:00Z,1.1,1.2\n2024-01-01T00:00:01Z,1.15,1.2\n",
                     r"line 3: price 1.15 is not a multiple of the tick 0.1",
                     terms=InstrumentTerms(instrument_id="EURUSD.SIM", tick=0.1))

    def test_a_time_that_is_not_one(self, tmp_path: Path) -> None:
        self.refused(tmp_path, "time,bid,ask\n2024-01-01T00:00:00Z,1.1,1.2\nyesterday,1.1,1.2\n",
                     r"'yesterday' is not a time")

    def test_data_already_in_the_catalog_needs_replace(self, tmp_path: Path) -> None:
        import_data(public_csv("GOOG.csv"), tmp_path, InstrumentTerms(instrument_id="GOOG.NASDAQ", kind="equity"))
        with pytest.raises(DataError, match="--replace"):
            import_data(public_csv("GOOG.csv"), tmp_path, InstrumentTerms(instrument_id="GOOG.NASDAQ",
                                                                           kind="equity"))
        with pytest.raises(DataError, match="defines GOOG.NASDAQ otherwise"):
            import_data(public_csv("GOOG.csv"), tmp_path, InstrumentTerms(instrument_id="GOOG.NASDAQ",
                                                                           kind="equity", taker_fee=0.001),
                        ImportOptions(replace=False))
        replaced = import_data(public_csv("GOOG.csv"), tmp_path, InstrumentTerms(
            instrument_id="GOOG.NASDAQ", kind="equity", taker_fee=0.001), ImportOptions(replace=True))
        assert float(ParquetDataCatalog(str(tmp_path)).instruments()[0].taker_fee) == 0.001
        assert len(bars_of(tmp_path, replaced.bar_type or "")) == 2_148


@pytest.mark.slow
def test_memory_stays_bounded_by_the_chunk_not_the_file(tmp_path: Path) -> None:
    """Peak traced memory importing 4× the rows, chunk for chunk the same: within 1.5× (Python's allocations,
    which Nautilus' objects are)."""
    import tracemalloc

    def peak(rows: int) -> int:
        ts = 1_700_000_000_000 + np.arange(rows) * 100
        price = 100 + np.round(np.sin(np.arange(rows) / 500), 2)
        pq.write_table(pa.table({"ts": ts, "bid": price, "ask": price + 0.01}), tmp_path / f"{rows}.parquet")
        tracemalloc.start()
        import_data(tmp_path / f"{rows}.parquet", tmp_path / f"c{rows}", InstrumentTerms(
            instrument_id="ABC-USD.SIM", kind="spot"), ImportOptions(chunk_rows=50_000))
        _, high = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return high

    small, large = peak(200_000), peak(800_000)
    assert large < 1.5 * small, (small, large)
