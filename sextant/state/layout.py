"""Binary layout of the three shared-memory files: the ContextWindow and the two rings.

Every file starts with the same 128-byte header (two cache lines):

    line 0, written once at creation, then only the writer's pid and heartbeat change
        0   magic           u64   b"SXCTXWIN", b"SXEVTRNG" or b"SXCMDRNG" (little-endian u64)
        8   layout_version  u32   bumped on any change to a layout in this module
        12  header_size     u32   128
        16  file_size       u64   the whole file, bytes
        24  record_size     u32   ContextWindow record (one buffer), or ring slot size
        28  record_count    u32   2 buffers for the ContextWindow, slot count for a ring
        32  layout_hash     u64   hash of the record dtype, so a changed field list cannot pass as the same version
        40  writer_pid      u64
        48  heartbeat_ns    u64   writer's wall clock (time.time_ns) at its last commit or heartbeat
        56  created_ns      u64
    line 1, the hot word, alone on its cache line so readers polling it do not share a line with the heartbeat
        64  sequence        u64   ContextWindow: seqlock word; ring: number of messages published

The ContextWindow record holds numbers only. The one text a reader may want, the LLM-readable market line, is
rendered from these numbers by `sextant.state.context.render_market_text`, never parsed back from text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import IntEnum
from typing import cast

import numpy as np

LAYOUT_VERSION = 3
HEADER_SIZE = 128
CACHE_LINE = 64

CONTEXT_MAGIC = int.from_bytes(b"SXCTXWIN", "little")
EVENT_RING_MAGIC = int.from_bytes(b"SXEVTRNG", "little")
COMMAND_RING_MAGIC = int.from_bytes(b"SXCMDRNG", "little")

MAGIC_NAMES: dict[int, str] = {
    CONTEXT_MAGIC: "ContextWindow",
    EVENT_RING_MAGIC: "EventRing",
    COMMAND_RING_MAGIC: "CommandRing",
}

# The CommandRing's E-stop latch (zero in the other files): how many E-stop engages the bridge has sent, when the
# last was sent and its command id. A ring slot can be overwritten by a flood before the engine reads it; these
# words cannot, and the engine reads them on every poll and every quote (docs/shared-memory.md).
ESTOP_COMMAND_ID_SIZE = 40

def _fields(dtype: np.dtype) -> Mapping[str, tuple[np.dtype, int]]:
    """`dtype.fields`, which numpy types as optional (None for a plain dtype); every dtype here is structured."""
    return cast("Mapping[str, tuple[np.dtype, int]]", dtype.fields)


def _names(dtype: np.dtype) -> tuple[str, ...]:
    """`dtype.names`, optional in numpy's types as `fields` is."""
    return cast("tuple[str, ...]", dtype.names)


HEADER_DTYPE = np.dtype(
    {
        "names": ["magic", "layout_version", "header_size", "file_size", "record_size", "record_count",
                  "layout_hash", "writer_pid", "heartbeat_ns", "created_ns", "sequence",
                  "estop_requests", "estop_request_ns", "estop_command_id"],
        "formats": ["<u8", "<u4", "<u4", "<u8", "<u4", "<u4", "<u8", "<u8", "<u8", "<u8", "<u8",
                    "<u8", "<u8", f"S{ESTOP_COMMAND_ID_SIZE}"],
        "offsets": [0, 8, 12, 16, 24, 28, 32, 40, 48, 56, 64, 72, 80, 88],
        "itemsize": HEADER_SIZE,
    }
)

OFFSET_WRITER_PID = _fields(HEADER_DTYPE)["writer_pid"][1]
OFFSET_HEARTBEAT = _fields(HEADER_DTYPE)["heartbeat_ns"][1]
OFFSET_SEQUENCE = _fields(HEADER_DTYPE)["sequence"][1]
OFFSET_ESTOP_REQUESTS = _fields(HEADER_DTYPE)["estop_requests"][1]
OFFSET_ESTOP_REQUEST_NS = _fields(HEADER_DTYPE)["estop_request_ns"][1]
OFFSET_ESTOP_COMMAND_ID = _fields(HEADER_DTYPE)["estop_command_id"][1]


class Venue(IntEnum):
    SIM = 0
    SCENE = 1
    OKX = 2


class TradingState(IntEnum):
    """Mirrors Nautilus' RiskEngine trading state."""

    ACTIVE = 0
    REDUCING = 1
    HALTED = 2


class EStopState(IntEnum):
    RELEASED = 0
    ENGAGING = 1  # REDUCING: cancelling and closing
    ENGAGED = 2  # HALTED and flat


class Autonomy(IntEnum):
    MANUAL = 0
    ASSISTED = 1
    AUTO = 2


class CrewAgent(IntEnum):
    NONE = 0
    MOMENTUM = 1
    MEAN_REVERSION = 2
    RISK = 3
    DELTA_HEDGE = 4
    PERCEPTION = 5
    RESEARCH = 6


class CrewState(IntEnum):
    OFFLINE = 0
    IDLE = 1
    ACTIVE = 2
    THINKING = 3
    SUGGESTING = 4
    ALERT = 5


class CrewTask(IntEnum):
    """What a crew member is doing, as a code plus one number (`crew_task_value`); rendered to text on read."""

    IDLE = 0
    WATCHING_PRICE = 1  # value: mid
    MOMENTUM_SIGNAL = 2  # value: momentum
    FADING_ZSCORE = 3  # value: z-score
    RISK_NOMINAL = 4  # value: total potential U
    RISK_WARNING = 5  # value: U
    RISK_VETO = 6  # value: U
    HEDGING_DELTA = 7  # value: delta to hedge
    ASKING_LLM = 8  # value: level (2 or 3)
    LLM_BUDGET_SPENT = 9  # value: spend this hour
    COOLDOWN = 10  # value: seconds left
    TRADE_LIMIT = 11  # value: trades made
    HALTED = 12  # value: unused
    WAITING_APPROVAL = 13  # value: seconds left
    MOMENTUM_Z = 14  # value: momentum as a z-score against realised volatility
    HOLDING_FOR_CARD = 15  # value: seconds left on the card another crew member raised


class TraceKind(IntEnum):
    QUOTE = 0
    TRADE = 1
    FILL = 2
    ALERT = 3
    RISK_ALERT = 4


class HullDimension(IntEnum):
    """The risk field's dimensions (docs/spec.md#risk-field). The first six are the hull gauges; drawdown is the
    seventh term."""

    DELTA = 0
    GAMMA = 1
    VEGA = 2
    LIQUIDITY = 3
    CONCENTRATION = 4
    LEVERAGE = 5
    DRAWDOWN = 6


INSTRUMENT_BYTES = 32
CODE_BYTES = 16  # a currency or asset code, NUL padded
HORIZONS = 4  # momentum / volatility horizons, defined per file by `horizon_s`
# The roles of llm.toml ([roles]), in the order of the ContextWindow's per-role LLM fields.
LLM_ROLES = ("perception", "strategy", "risk", "fallback", "research")
FORECAST_POINTS = 8
RISK_DIMENSIONS = len(HullDimension)
MAX_CREW = 8
TRACE_SLOTS = 64
MAX_INSTRUMENTS = 8  # instruments one engine trades at once (a portfolio)

# Field order: checksum and write_seq first (the checksum covers everything after itself), then by subsystem.
# numpy aligns every field to its natural alignment (align=True), exactly as a C compiler would lay out a struct.
# The record is the account's section, then one slot per instrument (INSTRUMENT_FIELDS) for up to MAX_INSTRUMENTS.
_ACCOUNT_FIELDS: list[tuple] = [
    ("checksum", "<u8"),
    ("write_seq", "<u8"),
    ("ts_ns", "<u8"),  # time of the last update on the engine's (Nautilus) clock
    ("wall_ns", "<u8"),  # writer's clock at commit: the wall clock live, the simulated clock in `sextant sim`
    ("venue", "u1"),
    ("dry_run", "u1"),
    ("trading_state", "u1"),
    ("estop", "u1"),
    ("autonomy", "u1"),
    ("autonomy_ceiling", "u1"),
    ("replay", "u1"),
    ("crew_count", "u1"),
    ("instrument_count", "u1"),  # slots in use, from 0
    ("currency", "u1", (CODE_BYTES,)),  # the account's currency code (its instruments settle in it), ASCII
    ("largest_slot", "u1"),  # the instrument of the largest |notional| (the concentration reading's)
    ("hedge_slot", "u1"),  # the most liquid instrument: the one the delta-hedge agent hedges the portfolio with
    # the account, in the settlement currency
    ("equity", "<f8"),
    ("balance_free", "<f8"),
    ("margin_used", "<f8"),
    ("leverage", "<f8"),  # gross notional / equity
    ("peak_equity", "<f8"),
    ("drawdown", "<f8"),  # fraction below peak equity, >= 0
    ("gross_notional", "<f8"),  # sum of |position notional| over the instruments
    ("net_delta", "<f8"),  # sum of signed position notional: the portfolio's net delta in the settlement currency
    ("net_delta_limit", "<f8"),
    ("pending_intents", "<u4"),
    ("orders_submitted", "<u8"),
    ("fills", "<u8"),
    # the portfolio's risk field (docs/spec.md#risk-field); each instrument's own delta term is in its slot
    ("risk_x", "<f8", (RISK_DIMENSIONS,)),
    ("risk_limit", "<f8", (RISK_DIMENSIONS,)),
    ("risk_potential", "<f8", (RISK_DIMENSIONS,)),
    ("risk_gradient", "<f8", (RISK_DIMENSIONS,)),
    ("risk_applicable", "u1", (8,)),  # 0 where a dimension does not apply (gamma, vega on a linear perp)
    ("risk_total", "<f8"),
    ("risk_warn", "<f8"),
    ("risk_veto", "<f8"),
    ("reputation", "<f8"),
    # the crew roster (its members decide per instrument: their states are in each slot)
    ("crew_agent", "u1", (MAX_CREW,)),
    ("crew_reputation", "<f8", (MAX_CREW,)),
    ("llm_tokens_hour", "<f8"),
    ("llm_cost_hour", "<f8"),
    ("llm_budget_exhausted", "u1"),
    ("llm_role_tokens_hour", "<f8", (len(LLM_ROLES),)),  # the same hour, per role of llm.toml (LLM_ROLES' order)
    ("llm_role_cost_hour", "<f8", (len(LLM_ROLES),)),
    ("llm_in_flight", "u1"),  # calls being answered now
    ("llm_queue_depth", "<u2"),  # calls waiting for their provider's one slot
    # the crew's decisions an ERC-8004 validator re-ran: reproduced, and answered at all (trust/validator.py).
    # Added in v3's tail padding: offsets before them are unchanged, and older v3 records read 0 here.
    ("validations_reproduced", "<u4"),
    ("validations_answered", "<u4"),
]

INSTRUMENT_FIELDS: list[tuple] = [
    ("instrument", "u1", (INSTRUMENT_BYTES,)),  # ASCII instrument id, NUL padded
    ("slot_index", "u1"),  # this slot's own index, so an instrument's view knows which it is
    ("base", "u1", (CODE_BYTES,)),  # what it trades, ASCII: the base currency (BTC, EUR), an equity's symbol
    # instrument definition
    ("price_increment", "<f8"),
    ("size_increment", "<f8"),
    ("multiplier", "<f8"),
    # top of book
    ("bid", "<f8"),
    ("ask", "<f8"),
    ("bid_size", "<f8"),
    ("ask_size", "<f8"),
    ("last", "<f8"),
    ("last_size", "<f8"),
    ("mid", "<f8"),
    ("spread_bps", "<f8"),
    ("quote_count", "<u8"),
    # features
    ("horizon_s", "<f8", (HORIZONS,)),
    ("momentum", "<f8", (HORIZONS,)),  # log return of mid over each horizon
    ("volatility", "<f8", (HORIZONS,)),  # realised volatility over each horizon, annualised
    ("sea_state", "<f8"),  # 0 calm .. 1 storm, from volatility against its own long-run level
    ("forecast_mid", "<f8", (FORECAST_POINTS,)),
    ("forecast_step_s", "<f8"),
    # position
    ("position_size", "<f8"),  # signed, in contracts
    ("position_notional", "<f8"),
    ("entry_price", "<f8"),
    ("unrealized_pnl", "<f8"),
    ("realized_pnl", "<f8"),
    ("orders_open", "<u4"),
    # this instrument's part of the risk field: its delta in the base asset against its own limit, and the cost
    # in bps to trade out of it
    ("delta", "<f8"),
    ("delta_limit", "<f8"),
    ("delta_potential", "<f8"),
    ("liquidity_bps", "<f8"),
    ("touch_depth", "<f8"),  # the thinner side of the touch, in notional, smoothed over ~1,000 of its quotes
    # the crew's members on this instrument (the roster's order)
    ("crew_state", "u1", (MAX_CREW,)),
    ("crew_task", "<u2", (MAX_CREW,)),
    ("crew_task_value", "<f8", (MAX_CREW,)),
    ("crew_confidence", "<f8", (MAX_CREW,)),
    ("crew_last_decision_ns", "<u8", (MAX_CREW,)),
    # the last 64 market events, a ring: slot i holds event number n where n % 64 == i
    ("trace_kind", "u1", (TRACE_SLOTS,)),
    ("trace_count", "<u8"),  # events ever pushed
    ("trace_price", "<f8", (TRACE_SLOTS,)),
    ("trace_size", "<f8", (TRACE_SLOTS,)),
    ("trace_ts_ns", "<u8", (TRACE_SLOTS,)),
]


def _padded(dtype: np.dtype, multiple: int) -> np.dtype:
    size = -(-dtype.itemsize // multiple) * multiple
    fields, names = _fields(dtype), _names(dtype)
    return np.dtype({"names": names, "formats": [fields[n][0] for n in names],
                     "offsets": [fields[n][1] for n in names], "itemsize": size})


# One instrument's slot, padded to whole cache lines so that slots never share one.
INSTRUMENT_DTYPE: np.dtype = _padded(np.dtype(INSTRUMENT_FIELDS, align=True), CACHE_LINE)
_ACCOUNT_SECTION: np.dtype = _padded(np.dtype(_ACCOUNT_FIELDS, align=True), CACHE_LINE)
SLOTS_OFFSET: int = _ACCOUNT_SECTION.itemsize  # the first slot starts on a cache line of its own
# One buffer of the double buffer: whole cache lines, so the two buffers never share a line.
CONTEXT_DTYPE: np.dtype = np.dtype({
    "names": [*_names(_ACCOUNT_SECTION), "instruments"],
    "formats": [*(_fields(_ACCOUNT_SECTION)[n][0] for n in _names(_ACCOUNT_SECTION)),
                (INSTRUMENT_DTYPE, (MAX_INSTRUMENTS,))],
    "offsets": [*(_fields(_ACCOUNT_SECTION)[n][1] for n in _names(_ACCOUNT_SECTION)), SLOTS_OFFSET],
    "itemsize": SLOTS_OFFSET + MAX_INSTRUMENTS * INSTRUMENT_DTYPE.itemsize})
CONTEXT_RECORD_SIZE: int = CONTEXT_DTYPE.itemsize
CONTEXT_FILE_SIZE: int = HEADER_SIZE + 2 * CONTEXT_RECORD_SIZE


def _view(names: list[str], offsets: list[int]) -> np.dtype:
    fields = {**_fields(CONTEXT_DTYPE), **_fields(INSTRUMENT_DTYPE)}
    return np.dtype({"names": names, "formats": [fields[n][0] for n in names], "offsets": offsets,
                     "itemsize": CONTEXT_RECORD_SIZE})


_ACCOUNT_NAMES = [field[0] for field in _ACCOUNT_FIELDS]
# The account's section alone, over a whole record: what numba kernels take beside an instrument's slot (a kernel
# on CONTEXT_DTYPE itself would have to type the nested slots).
ACCOUNT_DTYPE: np.dtype = _view(_ACCOUNT_NAMES, [int(_fields(CONTEXT_DTYPE)[n][1]) for n in _ACCOUNT_NAMES])


def instrument_view_dtype(slot: int) -> np.dtype:
    """A whole record seen as one instrument's: the account's fields and slot `slot`'s under their own names
    (`view["mid"]`, `view["equity"]`), without a copy. What a crew member on that instrument perceives."""
    if not 0 <= slot < MAX_INSTRUMENTS:
        raise ValueError(f"instrument slot {slot} is outside 0..{MAX_INSTRUMENTS - 1}")
    return _INSTRUMENT_VIEWS[slot]


_INSTRUMENT_NAMES = list(_names(INSTRUMENT_DTYPE))
_INSTRUMENT_VIEWS = tuple(
    _view(_ACCOUNT_NAMES + _INSTRUMENT_NAMES,
          [int(_fields(CONTEXT_DTYPE)[n][1]) for n in _ACCOUNT_NAMES]
          + [SLOTS_OFFSET + slot * INSTRUMENT_DTYPE.itemsize + int(_fields(INSTRUMENT_DTYPE)[n][1])
             for n in _INSTRUMENT_NAMES])
    for slot in range(MAX_INSTRUMENTS))


def field_offset(name: str, slot: int = 0) -> int:
    """Byte offset of a ContextWindow field inside one record: an account field, or instrument slot `slot`'s."""
    return int(_fields(instrument_view_dtype(slot))[name][1])


def _describe(dtype: np.dtype) -> str:
    """A dtype's names, formats, shapes and offsets, nested records included."""
    fields = _fields(dtype)
    described = []
    for name in _names(dtype):
        field_dtype, offset = fields[name][0], fields[name][1]
        inner = field_dtype.base
        described.append((name, _describe(inner) if inner.names else field_dtype.str, field_dtype.shape, offset))
    return repr(described) + f"|{dtype.itemsize}"


def dtype_hash(dtype: np.dtype) -> int:
    """A stable 64-bit hash of a dtype's names, formats and offsets (nested records' too)."""
    return int.from_bytes(hashlib.blake2b(_describe(dtype).encode(), digest_size=8).digest(), "little")


CONTEXT_LAYOUT_HASH: int = dtype_hash(CONTEXT_DTYPE)

# Ring slot: three u64 words, then the payload.
#   0  slot_seq  2*m + 1 while message m is being written into this slot, 2*m + 2 once it is complete
#   8  meta      kind (u16) | flags (u16) << 16 | payload length (u32) << 32
#   16 ts_ns     event time
SLOT_HEADER_SIZE = 24
SLOT_FLAG_TRUNCATED = 1  # fields were shortened to fit; the payload still decodes
SLOT_FLAG_RAW_PREFIX = 2  # the payload is a prefix of the encoding and cannot be decoded

# Sized for a flood: a 10 k/s command burst fits the CommandRing between two engine polls, and the events that
# answer it fit the EventRing between two bridge frames.
EVENT_RING_SLOTS = 4096
EVENT_RING_SLOT_SIZE = 512
COMMAND_RING_SLOTS = 4096
COMMAND_RING_SLOT_SIZE = 256

RING_LAYOUT_HASH: int = int.from_bytes(
    hashlib.blake2b(b"slot:seq:u64,meta:u64(kind:u16,flags:u16,len:u32),ts_ns:u64,payload", digest_size=8).digest(),
    "little")


def ring_file_size(slot_count: int, slot_size: int) -> int:
    return HEADER_SIZE + slot_count * slot_size


def _fingerprint() -> str:
    """Every constant of this module (sizes, offsets, dtypes with their fields), hashed."""
    constants = sorted((name, repr(value)) for name, value in globals().items()
                       if name.isupper() and isinstance(value, (int, np.dtype, tuple)))
    return hashlib.blake2b(repr(constants).encode(), digest_size=8).hexdigest()


# numba compiles the sizes and offsets above into the machine code it caches on disk, and keys that cache by the
# source file of each function only: memory.drop_jit_cache_of_another_layout drops code compiled for another one.
LAYOUT_FINGERPRINT: str = _fingerprint()
