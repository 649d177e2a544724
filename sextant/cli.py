"""The `sextant` command: one entry point for every process and tool.

Exit codes (docs/spec.md#exit-codes): 0 ok, 2 bad usage or configuration, 1 runtime failure.
"""

from __future__ import annotations

import argparse
import math
import runpy
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from sextant.config import (
    DEFAULT_PORTFOLIO,
    ENV_NAMES,
    ConfigError,
    SextantConfig,
    describe_config,
    has_display,
    load_config,
    load_llm_config,
    override,
)

if TYPE_CHECKING:
    from sextant.bridge.config import BridgeConfig

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "bench"
BENCH_SUITES = ("state", "engine", "bridge", "sim", "trust", "research", "data")
_ENGINE_SETTINGS = {"venue": "engine.venue", "seed": "engine.seed", "dry_run": "engine.dry_run",
                    "market": "engine.market", "instrument": "engine.instrument", "portfolio": "engine.portfolio"}
# Per verb, the options that set a setting (option dest -> the setting's key). They go through
# `config.override`, so a value is checked exactly as the same value in the setting's environment variable is.
SETTING_OPTIONS: dict[str, dict[str, str]] = {
    "engine": _ENGINE_SETTINGS,
    "run": _ENGINE_SETTINGS,
    "bridge": {"mmap": "engine.context_path", "events": "engine.events_path", "commands": "engine.commands_path"},
    "sim": {"seed": "engine.seed", "portfolio": "engine.portfolio"},
}


def _portfolio_option(verb: argparse.ArgumentParser) -> None:
    verb.add_argument("--portfolio", nargs="?", const=",".join(DEFAULT_PORTFOLIO), metavar="IDS",
                      help="trade several instruments at once, a crew on each: the portfolio model's correlated OKX "
                           "swaps (default BTC, ETH and SOL; or a comma-separated list of them); override "
                           "SEXTANT_PORTFOLIO. In `sim`, --quotes counts steps of all of them")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's default exit code is already 2; keep the hint short
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}. Run '{self.prog} --help'.", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sextant",
        description="Sextant: an AI-native quant trading engine on NautilusTrader, with a nautical bridge.",
        epilog="Configuration: sextant.toml and environment variables (docs/configuration.md).",
    )
    parser.add_argument("--config", metavar="PATH", help="sextant.toml to load (default: $SEXTANT_CONFIG or "
                                                          "./sextant.toml if present)")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)

    run = verbs.add_parser("run", help="start Sextant: the engine and the bridge, two processes",
                           description="Start the engine process and the bridge process. Ctrl-C, closing the "
                                       "window or the engine ending stops both.")
    engine = verbs.add_parser("engine", help="run the trading engine alone (NautilusTrader node)",
                              description="Run the engine process: the Nautilus node, the crew and the shared-memory "
                                          "writers. Stops on Ctrl-C, SIGTERM or --duration.")
    for verb in (run, engine):
        verb.add_argument("--venue", choices=("sim", "scene", "catalog", "okx"),
                          help="override SEXTANT_VENUE: scene and catalog play a recorded market (--market)")
        verb.add_argument("--market", metavar="PATH", help="the scene folder or catalog the scene and catalog venues "
                                                            "play, at --speed times its pace")
        verb.add_argument("--instrument", metavar="SYMBOL.VENUE", help="the catalog venue's instrument (default: "
                                                                       "the catalog's only one)")
        verb.add_argument("--seed", type=int, help="override SEXTANT_SEED")
        _portfolio_option(verb)
        verb.add_argument("--speed", type=float, help="sim clock multiplier (default 1)")
        verb.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
        verb.add_argument("--dry-run", action="store_true", default=None, help="force SEXTANT_DRY_RUN=1")
        verb.add_argument("--autonomy", choices=("MANUAL", "ASSISTED", "AUTO"), help="gate level (default MANUAL)")
    bridge = verbs.add_parser("bridge", help="the nautical bridge alone, on an engine's shared memory",
                              description="Show the bridge on the engine's shared-memory files (a running engine, "
                                          "or a replay). It waits for the files, and re-attaches when the engine "
                                          "restarts.")
    for verb in (run, bridge):
        verb.add_argument("--headless", action="store_true",
                          help="no window: the bridge runs in this terminal (a status line per second, keys A R "
                               "Space 1-4 ? q); with --screenshot, --frames or --script it renders off screen (EGL)")
        verb.add_argument("--windowed", action="store_true", help="a window instead of full screen")
        verb.add_argument("--size", metavar="WxH", help="window size, e.g. 1280x720 (default 1920x1080)")
        verb.add_argument("--script", metavar="FILE", help="drive the bridge's input from a script "
                                                           "(sextant/bridge/script.py documents the steps)")
    bridge.add_argument("--mmap", metavar="PATH", help="ContextWindow file (default $SEXTANT_CONTEXT_PATH)")
    bridge.add_argument("--events", metavar="PATH", help="EventRing file (default $SEXTANT_EVENTS_PATH)")
    bridge.add_argument("--commands", metavar="PATH", help="CommandRing file (default $SEXTANT_COMMANDS_PATH)")
    bridge.add_argument("--frames", type=int, metavar="N", help="stop after N frames (with --screenshot: take it "
                                                                 "N frames after the engine is seen)")
    bridge.add_argument("--screenshot", metavar="PATH", help="write a PNG of the frame, then exit")

    config = verbs.add_parser("config", help="show or check the configuration",
                              description="Show or check the configuration (secrets masked).")
    config_verbs = config.add_subparsers(dest="config_verb", metavar="ACTION", parser_class=_Parser)
    config_verbs.add_parser("show", help="print every setting, its value and its environment variable",
                            description="Print every setting (secrets masked) and the LLM roles.")
    config_verbs.add_parser("check", help="load sextant.toml, the environment and llm.toml; report problems",
                            description="Validate the configuration and llm.toml; exit 2 on a problem.")

    sim = verbs.add_parser("sim", help="re-run a scene's market (or the seeded model) through the full crew, fast",
                           description="Run a scene's quotes, or --quotes N quotes of the seeded market model, "
                                       "through a fresh Nautilus BacktestEngine with the full crew in AUTO and LLM "
                                       "escalation off, on a simulated clock. Prints a summary and writes the event "
                                       "log (events.jsonl, its SHA-256 in the summary), summary.json and a "
                                       "replayable scene into --out.")
    sim.add_argument("scene", nargs="?", help="a scene folder (scenes/flash-crash, recordings/…) or a catalog "
                                              "(sextant data import); omit for the model")
    sim.add_argument("--instrument", metavar="SYMBOL.VENUE", help="with a catalog of several: which instrument")
    sim.add_argument("--seed", type=int, help="the crew's seed, and the model's (default: the scene's, or "
                                              "$SEXTANT_SEED)")
    sim.add_argument("--quotes", type=int, default=36_000, help="without a scene: model quotes (0.1 s each)")
    sim.add_argument("--out", metavar="DIR", help="where the results go (default: a new folder under record_dir)")
    sim.add_argument("--no-record", action="store_true", help="do not write a replayable scene")
    _portfolio_option(sim)
    sim.add_argument("--estop-at", type=float, metavar="SECONDS",
                     help="a drill: engage the E-stop this far into the data (it flattens every instrument)")
    sim.add_argument("--attest", action="store_true",
                     help="after the run, attest each closed decision into OUT/trust on the configured chain (its "
                          "own journal, apart from the live crew's) and ask [trust] validator to re-run each")

    trust = verbs.add_parser("trust", help="ERC-8004 attestation: status of the crew's identities and reputation",
                             description="The trust layer: the crew's agent ids, on-chain scores and attestations "
                                         "(SEXTANT_TRUST_DIR, SEXTANT_CHAIN_RPC / SEXTANT_CHAIN_KEY).")
    trust_verbs = trust.add_subparsers(dest="trust_verb", metavar="ACTION", parser_class=_Parser)
    trust_verbs.add_parser("status", help="agents, ids, scores, pending and mined attestations, the chain endpoint")
    verify = trust_verbs.add_parser("verify", help="check a decision record's signature and its on-chain hash, and "
                                                   "show its validation")
    verify.add_argument("record", help="a record file (trust/records/<id>.json)")
    validator = trust_verbs.add_parser(
        "validator", help="run an ERC-8004 validator: re-run each decision it is asked about, answer on chain",
        description="A validator with its own key (SEXTANT_VALIDATOR_KEY) on an RPC chain (SEXTANT_CHAIN_RPC): it "
                    "follows the ValidationRequest events addressed to it, re-runs each decision record on the "
                    "scene it names, and answers 100 (reproduced) or 0 with the reason (docs/trust.md).")
    validator.add_argument("--registry", metavar="ADDRESS",
                           help="the Validation Registry (default: the one in [trust] dir's journal)")
    validator.add_argument("--once", action="store_true",
                           help="answer what can be answered now, then exit (default: follow until Ctrl-C)")

    llm = verbs.add_parser("llm", help="the crew's models: each one's scored record and calibration",
                           description="What each model has earned: its directional answers scored against the mid "
                                       "over their horizon (llm.record), and the confidence consensus gives it at "
                                       "each stated confidence (docs/configuration.md#a-model-earns-its-vote).")
    llm_verbs = llm.add_subparsers(dest="llm_verb", metavar="ACTION", parser_class=_Parser)
    llm_verbs.add_parser("status", help="per model and role: answers scored, hit rate, calibration by confidence")
    evaluate = llm_verbs.add_parser(
        "eval", help="put recorded market states to a role's model and to the rules; score both",
        description="Replay recorded market states (scenes' ContextWindow snapshots) through the model of a role, "
                    "with the router's prompt and deadline, and through the rules as the baseline: validity, "
                    "latency, agreement with the rules, directional skill over the scoring horizon, and a "
                    "reliability diagram (docs/llm.md#measuring-a-model).")
    evaluate.add_argument("scenes", nargs="*", metavar="SCENE", help="scene folders (default: every one in scenes/)")
    evaluate.add_argument("--role", choices=("perception", "strategy"), default="perception",
                          help="perception: L2, with l2_deadline_s; strategy: L3, with l3_deadline_s")
    evaluate.add_argument("--every", type=float, default=10.0, metavar="S",
                          help="one state every S seconds of the scene's engine time (default 10)")
    evaluate.add_argument("--limit", type=int, default=0, metavar="N", help="at most N states per scene (0: all)")
    evaluate.add_argument("--out", default="llm-eval", metavar="DIR",
                          help="where report.json and reliability.png go (default llm-eval/)")

    replay = verbs.add_parser("replay", help="replay a recorded scene in the bridge",
                              description="Write a recorded scene (docs/scene-format.md) back into the shared "
                                          "memory and show it in the bridge, with a REPLAY badge. Keys: Space "
                                          "pause, ←/→ step, [ / ] speed 0.25×–16×, click the timeline to seek.")
    replay.add_argument("scene", help="the scene folder (recordings/…, scenes/…), or a catalog (sextant data "
                                      "import), which the crew sails first in a sim")
    replay.add_argument("--instrument", metavar="SYMBOL.VENUE", help="with a catalog of several: which instrument")
    replay.add_argument("--speed", type=float, default=1.0, help="start speed, 0.25 to 16 (default 1)")
    replay.add_argument("--headless", action="store_true", help="no display: with --frames and --out, render PNGs")
    replay.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    replay.add_argument("--size", metavar="WxH", help="window size, e.g. 1280x720")
    replay.add_argument("--frames", type=int, metavar="N", help="with --headless: render N frames (1/60 s each)")
    replay.add_argument("--out", metavar="DIR", help="with --headless --frames: where the PNGs go")
    replay.add_argument("--every", type=int, default=1, metavar="K", help="keep every K-th frame (default 1)")

    research = verbs.add_parser(
        "research", help="autoresearch: propose, micro-backtest, keep only improvements (a ratchet)",
        description="Propose parameter sets for the strategy families, backtest each on Nautilus over walk-forward "
                    "windows (a vectorised screen ranks each round's proposals first; only the best few reach "
                    "Nautilus), and accept only what beats the best, beats hold and passes the sealed holdout with a "
                    "deflated Sharpe ratio that counts every screened trial. Every hypothesis goes to the ledger "
                    "(SQLite); an interrupted run resumes with the same command. Writes a Markdown report with "
                    "plots. Accepted changes to live crew members reach the engine as research cards "
                    "(docs/research.md).")
    research.add_argument("--budget", type=int, default=1000,
                          help="hypotheses in the ledger to reach, screened ones included (default 1000)")
    research.add_argument("--scene", metavar="DIR", help="a recorded scene's quotes, or a catalog's quotes or bars "
                                                         "(sextant data import) (default: the seeded model)")
    research.add_argument("--instrument", metavar="SYMBOL.VENUE",
                          help="with a catalog of several: which instrument (without it, or with `all`: every one, "
                               "each hypothesis judged on the mean of their IRs)")
    research.add_argument("--portfolio", nargs="?", const=",".join(DEFAULT_PORTFOLIO), metavar="IDS",
                          help="the seeded portfolio model's correlated OKX swaps (default BTC, ETH and SOL; or a "
                               "comma-separated list of them): every hypothesis on each, judged on the mean of their "
                               "IRs; --quotes counts each one's")
    research.add_argument("--quotes", type=int, help="how many quotes (default: 400000 model quotes; a scene's all)")
    research.add_argument("--market", choices=("model", "noise", "planted"), default="model",
                          help="without --scene: the engine's seeded model (default), or a market with a known "
                               "answer: noise (a random walk: nothing may be accepted) or planted (a momentum edge)")
    research.add_argument("--seed", type=int, default=7, help="the proposals' and the model's seed (default 7)")
    research.add_argument("--families", help="comma-separated families (default: all five)")
    research.add_argument("--workers", type=int, help="parallel evaluations (default: the CPU count, at most 4)")
    research.add_argument("--screen", type=int, default=64,
                          help="proposals screened together in a round, from the same best (default 64; at most "
                               "--batch: no screen, every proposal on Nautilus)")
    research.add_argument("--batch", type=int, default=4,
                          help="the best of each round by the screen, evaluated on Nautilus (default 4)")
    research.add_argument("--slippage-bps", type=float, default=0.0,
                          help="the screen's cost beyond the spread, the touch's depth and the fee (default 0)")
    research.add_argument("--executor", choices=("process", "ray", "inline"), default="process",
                          help="where evaluations run (default: a local process pool)")
    research.add_argument("--proposer", choices=("mutation", "llm"), default="mutation",
                          help="llm: one proposal in four from llm.toml's research role, the rest mutations")
    research.add_argument("--ledger", metavar="PATH", help="the ledger (default: $SEXTANT_RESEARCH_LEDGER)")
    research.add_argument("--report", metavar="DIR", help="where the report goes (default: beside the ledger)")
    research.add_argument("--no-progress", action="store_true", help="no progress bar")

    data = verbs.add_parser("data", help="bring your own market: import quotes, trades or bars into a catalog",
                            description="Import market data into a NautilusTrader ParquetDataCatalog, which sim, "
                                        "research, replay and the engine's catalog venue read (docs/markets.md).")
    data_verbs = data.add_subparsers(dest="data_verb", metavar="ACTION", parser_class=_Parser, required=True)
    data_import = data_verbs.add_parser(
        "import", help="a CSV, a Parquet file or a NautilusTrader catalog into a catalog",
        description="Read quotes, trades or OHLCV bars (CSV, Parquet, or a NautilusTrader catalog), check every row "
                    "(an error names the first bad one) and write them, with their instrument, into a "
                    "NautilusTrader catalog. Columns are found by their usual names; --columns names the others.")
    data_import.add_argument("path", help="the file (.csv, .csv.gz, .parquet) or a catalog folder")
    data_import.add_argument("--catalog", default="catalog", metavar="DIR", help="the catalog to write (default "
                                                                                  "catalog/)")
    data_import.add_argument("--format", choices=("csv", "parquet", "catalog"), help="default: from the path")
    data_import.add_argument("--data", choices=("quotes", "trades", "bars"), help="default: from the columns")
    data_import.add_argument("--columns", metavar="F=COL,…", help="which column holds which field, e.g. "
                                                                   "ts=Time,bid=BidPrice,ask=AskPrice")
    data_import.add_argument("--tz", default="UTC", help="the time zone of times written without one (default UTC)")
    data_import.add_argument("--epoch-unit", choices=("s", "ms", "us", "ns"),
                             help="the unit of epoch-number times (default: from their size)")
    data_import.add_argument("--bar", metavar="STEP-UNIT", help="bar length, e.g. 1-HOUR (default: the usual step)")
    data_import.add_argument("--bar-time", choices=("open", "close"), default="open",
                             help="what a bar's time marks (default open)")
    data_import.add_argument("--price-type", choices=("MID", "LAST", "BID", "ASK"),
                             help="what bar prices are (default MID for fx, LAST otherwise)")
    data_import.add_argument("--gaps", choices=("report", "fail"), default="report",
                             help="a step over --gap-factor usual steps: list it (default) or refuse the file")
    data_import.add_argument("--gap-factor", type=float, default=5.0, help="default 5")
    data_import.add_argument("--replace", action="store_true", help="replace this instrument's data in the catalog")
    data_import.add_argument("--instrument", metavar="SYMBOL.VENUE",
                             help="the instrument id (default: the file's name on venue SIM, e.g. EURUSD.SIM)")
    data_import.add_argument("--kind", choices=("fx", "equity", "spot", "perp"),
                             help="the instrument's kind (default fx for a six-letter currency pair)")
    data_import.add_argument("--tick", type=float, help="price increment (default: from the prices' decimals)")
    data_import.add_argument("--lot", type=float, help="size increment (default 1 for fx and equities)")
    data_import.add_argument("--multiplier", type=float, default=1.0, help="base units per unit of size (default 1)")
    data_import.add_argument("--maker-fee", type=float, default=0.0, help="fraction of notional (0.0002 = 2 bps)")
    data_import.add_argument("--taker-fee", type=float, default=0.0, help="fraction of notional")
    data_import.add_argument("--base", default="", help="base currency (default: from the symbol)")
    data_import.add_argument("--quote", default="", help="quote currency (default: from the symbol; equities USD)")
    data_import.add_argument("--from-venue", choices=("okx",), help="the instrument's tick, lot, contract value and "
                                                                    "limits as the venue lists them (OKX's public "
                                                                    "instruments; engine.okx_base_url_http)")
    data_import.add_argument("--no-progress", action="store_true", help="no progress bar")
    data_show = data_verbs.add_parser("show", help="a catalog's instruments and data",
                                      description="List a catalog's instruments, each with its terms and data.")
    data_show.add_argument("catalog", nargs="?", default="catalog", help="the catalog (default catalog/)")

    bench = verbs.add_parser("bench", help="run benchmarks (medians and p99)",
                             description="Run a benchmark suite from bench/ and print its table.")
    bench.add_argument("suite", choices=(*BENCH_SUITES, "all"), help="which suite")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the suite (see its --help)")
    return parser


def _config_show(config: SextantConfig) -> int:
    rows = describe_config(config)
    width = max(len(key) for key, _, _ in rows)
    print("# Sextant configuration (defaults < sextant.toml < environment; secrets masked)")
    for key, shown, name in rows:
        aliases = ENV_NAMES[key][1:]
        also = f" (or {', '.join(aliases)})" if aliases else ""
        print(f"{key:<{width}} = {shown:<28} # {name}{also}")
    try:
        llm = load_llm_config(config.llm.config)
    except ConfigError as error:
        print(f"# llm.toml: {error}")
        return EXIT_USAGE
    print(f"# {config.llm.config}")
    for role in ("perception", "strategy", "risk", "fallback", "research"):
        model = llm.model_for(role)
        provider = llm.provider_for(model)
        key = "key set" if provider.api_key else "no key"
        print(f"llm.{role:<{width - 4}} = {model.provider}/{model.model} ({provider.api_base}, {key})")
    return EXIT_OK


def _llm_status(config: SextantConfig) -> int:
    import time

    from sextant.swarm.calibration import records_table

    path = config.llm.record
    if not path or not Path(path).exists():
        print(f"no record yet ({path or 'llm.record is empty: kept in memory only'}): the models have not answered")
        return EXIT_OK
    print(f"# {path}: directional answers scored against the mid over their horizon")
    for line in records_table(path, time.time_ns()):
        print(line)
    return EXIT_OK


def _llm_eval(config: SextantConfig, args: argparse.Namespace) -> int:
    import asyncio
    import json

    from tqdm import tqdm

    from sextant.replay.format import SceneError, read_context, read_metadata
    from sextant.swarm.evaluation import (
        answers_json,
        market_states,
        model_answers,
        reliability_png,
        report_json,
        report_lines,
        rising_share,
        rules_answers,
        scene_lines,
        summarize,
    )
    from sextant.swarm.llm import LlmClient
    from sextant.swarm.router import PerceptionConfig, PerceptionRouter, perception_prompt

    llm = load_llm_config(config.llm.config)
    keyless = llm.keyless(args.role)
    if keyless is not None:
        print(f"sextant llm eval: the {args.role} role's model cannot be asked: {keyless}", file=sys.stderr)
        return EXIT_USAGE
    if args.every <= 0 or args.limit < 0:
        print("sextant llm eval: --every must be positive and --limit at least 0", file=sys.stderr)
        return EXIT_USAGE
    settings = llm.perception
    scenes = [Path(scene) for scene in args.scenes] or sorted(
        path for path in Path("scenes").glob("*") if (path / "metadata.json").exists())
    if not scenes:
        print("sextant llm eval: no scene given and none in scenes/", file=sys.stderr)
        return EXIT_USAGE
    states = []
    try:
        for scene in scenes:
            read_metadata(scene)  # a scene of another format or layout is refused, by name
            rows = read_context(scene)
            found = market_states(scene.name, rows.ts_ns, rows.instrument(0), every_s=args.every,
                                  horizon_s=settings.answer_horizon_s, warm_quotes=settings.warm_quotes)
            states += found[:args.limit] if args.limit else found
    except SceneError as error:
        print(f"sextant llm eval: {error}", file=sys.stderr)
        return EXIT_USAGE
    router = PerceptionRouter(PerceptionConfig.from_settings(settings))

    def rules(record: Any) -> tuple[str, float]:
        decision = router.rules(record)
        return decision.action, decision.confidence

    baseline = rules_answers(states, rules)
    deadline = settings.l2_deadline_s if args.role == "perception" else settings.l3_deadline_s
    client = LlmClient(llm, deadline_s=deadline, max_retries=1)  # as the engine makes it
    model = client.model_name(args.role)
    print(f"# {len(states)} states from {', '.join(scene.name for scene in scenes)}, one every {args.every:g} s; "
          f"{model} as {args.role} with a {deadline:g} s deadline; scored over {settings.answer_horizon_s:g} s")
    with tqdm(total=len(states), unit="state", disable=None, leave=False) as bar:
        answers = asyncio.run(model_answers(states, lambda record: client.ask(args.role, perception_prompt(record),
                                                                                deadline),
                                            progress=lambda done: bar.update(done - bar.n)))
    reports = [summarize(f"{model} as {args.role}", answers, baseline), summarize("rules (L1)", baseline)]
    for line in report_lines(reports, settings.answer_horizon_s):
        print(line)
    rose, decided = rising_share(states)
    rising = rose / decided if decided else None
    if rising is not None:
        print(f"the mid rose after {rose} of the {decided} states it moved on ({rising:.0%}): what always saying "
              f"BUY scores, the bar for skill")
    print()
    for line in scene_lines(states, [(reports[0].name, answers), ("rules (L1)", baseline)]):
        print(line)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({
        "scenes": [str(scene) for scene in scenes], "role": args.role, "model": model, "every_s": args.every,
        "horizon_s": settings.answer_horizon_s, "deadline_s": deadline, "rising": {"rose": rose, "decided": decided},
        "sources": report_json(reports), "answers": {"model": answers_json(states, answers),
                                                     "rules": answers_json(states, baseline)}}, indent=2))
    reliability_png(reports, out / "reliability.png",
                    f"{model} as {args.role} vs the rules: {len(states)} states, {settings.answer_horizon_s:g} s",
                    rising)
    print(f"# {out / 'report.json'}, {out / 'reliability.png'}")
    return EXIT_OK


def _run_bench(suite: str, args: list[str]) -> int:
    """Run one suite, or all of them (each to the end, so one missed target does not hide the others)."""
    status = EXIT_OK
    for name in BENCH_SUITES if suite == "all" else (suite,):
        script = BENCH_DIR / f"{name}_bench.py"
        if not script.exists():
            print(f"sextant bench: {script} not found; benchmarks run from a source checkout (make bench).",
                  file=sys.stderr)
            return EXIT_RUNTIME
        saved = sys.argv
        sys.argv = [str(script), *args]
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as done:
            if done.code not in (None, 0):
                status = int(done.code) if isinstance(done.code, int) else EXIT_RUNTIME
        finally:
            sys.argv = saved
    return status


def _with_options(config: SextantConfig, args: argparse.Namespace) -> SextantConfig:
    """`config` with the verb's setting options that were given (SETTING_OPTIONS), validated as settings."""
    given = {field: getattr(args, dest) for dest, field in SETTING_OPTIONS.get(args.verb, {}).items()
             if getattr(args, dest, None) is not None}
    origins = {field: f"--{dest.replace('_', '-')}" for dest, field in SETTING_OPTIONS.get(args.verb, {}).items()}
    return override(config, given, origins) if given else config


def _engine_argv(args: argparse.Namespace) -> list[str]:
    """The `sextant run` options that the engine child takes, as its command line."""
    argv: list[str] = []
    for name in ("venue", "market", "instrument", "portfolio", "seed", "speed", "duration", "autonomy"):
        value = getattr(args, name)
        if value is not None:
            argv += [f"--{name}", str(value)]
    if args.dry_run:
        argv.append("--dry-run")
    return argv


def _bridge_config(config: SextantConfig, args: argparse.Namespace) -> BridgeConfig:
    from sextant.bridge.config import BridgeConfig

    values: dict[str, object] = {}
    origins: dict[str, str] = {}
    if args.size:
        try:
            width, height = (int(part) for part in args.size.lower().split("x"))
        except ValueError:
            raise ConfigError(f"--size={args.size}: use WIDTHxHEIGHT, e.g. 1280x720.") from None
        values |= {"bridge.width": width, "bridge.height": height}
        origins |= {"bridge.width": "--size", "bridge.height": "--size"}
    if args.windowed or args.headless:
        values["bridge.fullscreen"] = False
        origins["bridge.fullscreen"] = "--windowed" if args.windowed else "--headless"
    # the file paths are in `config` already (_with_options)
    return BridgeConfig.from_settings(override(config, values, origins) if values else config)


def _trust(config: SextantConfig, args: argparse.Namespace) -> int:
    from sextant.trust.attestor import Attestor
    from sextant.trust.chain import Chain, ChainError
    from sextant.trust.records import RecordError

    if args.trust_verb is None:
        raise ConfigError("sextant trust: say `status`, `verify RECORD` or `validator`.")
    if args.trust_verb == "validator":
        return _trust_validator(config, args)
    if not config.trust.dir:
        raise ConfigError("[trust] dir (SEXTANT_TRUST_DIR) is empty: the trust layer is off, there is nothing to "
                          "show.")
    directory = Path(config.trust.dir)
    if not (directory / "journal.sqlite").exists():
        print(f"sextant trust: no journal in {directory}: no engine has attested anything here yet.")
        return EXIT_OK if args.trust_verb == "status" else EXIT_RUNTIME
    attestor = Attestor(directory, lambda: Chain.connect(config.trust.chain_rpc, config.secrets.chain_key.reveal(),
                                                         seed=config.engine.seed), validator=config.trust.validator)
    try:
        attestor.setup([])  # the embedded chain is rebuilt from the journal; an RPC chain is only read
        if args.trust_verb == "verify":
            verified = attestor.verify(Path(args.record))
            print(f"verified: record {verified.record_id}, agent {verified.agent_id}, signed by {verified.signer}, "
                  f"hash {verified.hash} matches the chain")
            print(f"validation: {attestor.validation_of(verified.hash)}")
            return EXIT_OK
        counts = attestor.journal.counts()
        print(f"chain     {attestor.journal.get_meta('endpoint')} (chain id {attestor.journal.get_meta('chain_id')})")
        print(f"registry  identity {attestor.journal.get_meta('identity')}, reputation "
              f"{attestor.journal.get_meta('reputation')}, validation {attestor.journal.get_meta('validation')}")
        print(f"journal   {directory / 'journal.sqlite'}: {counts.get('mined', 0)} mined, "
              f"{counts.get('queued', 0)} pending, {counts.get('failed', 0)} failed")
        if config.trust.validator:
            from sextant.state.context import validated_share

            asked = attestor.journal.validations()
            reproduced, answered = attestor.validated()
            print(f"validator {config.trust.validator}: {asked.get('requested', 0)} asked, {answered} answered, "
                  f"{validated_share(reproduced, answered) or 'none validated yet'}"
                  + (f", {asked['failed']} requests refused" if asked.get("failed") else ""))
        from sextant.swarm.calibration import is_model_agent
        from sextant.trust.link import ceiling_for

        reputations = attestor.reputations()
        width = max([22, *(len(reputation.name) + 2 for reputation in reputations)])
        print(f"{'agent':<{width}}{'id':>4}{'feedback':>10}{'avg bps':>10}{'score':>8}  ceiling")
        for reputation in reputations:
            score = "—" if reputation.score is None else f"{reputation.score:.3f}"
            ceiling = "none: a model, it places no orders" if is_model_agent(reputation.name) else \
                ceiling_for(reputation.score).name
            print(f"{reputation.name:<{width}}{reputation.agent_id:>4}{reputation.count:>10}"
                  f"{reputation.average_bps:>10.2f}{score:>8}  {ceiling}")
        return EXIT_OK
    except RecordError as error:
        print(f"sextant trust verify: FAILED: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    except ChainError as error:
        print(f"sextant trust: the chain: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    finally:
        attestor.close()


def _trust_validator(config: SextantConfig, args: argparse.Namespace) -> int:
    import signal
    import threading

    from eth_utils import is_address, to_checksum_address

    from sextant.trust.chain import Chain, ChainError
    from sextant.trust.journal import Journal
    from sextant.trust.registry import Erc8004
    from sextant.trust.validating import Answer, ValidatorService

    if args.registry and not is_address(args.registry):
        raise ConfigError(f"--registry={args.registry}: not an address (0x and 40 hex digits, in one case or "
                          f"checksummed)")
    address: str | None = to_checksum_address(args.registry) if args.registry else None
    journal_path = Path(config.trust.dir or ".") / "journal.sqlite"
    if not address and config.trust.dir and journal_path.exists():
        journal = Journal(journal_path)
        address = journal.get_meta("validation")
        journal.close()
    if not address:
        raise ConfigError(f"sextant trust validator: which Validation Registry? No --registry, and no journal at "
                          f"{journal_path} names one. Fix: --registry 0x… (sextant trust status prints it).")
    try:
        chain = Chain.signer(config.trust.chain_rpc, config.secrets.validator_key.reveal())
        service = ValidatorService(chain, Erc8004.of_validation(chain, address))
    except ChainError as error:
        print(f"sextant trust validator: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    print(f"validator {chain.operator.address} on {chain.endpoint}, Validation Registry {address}", flush=True)

    def show(answer: Answer) -> None:
        print(f"{answer.response:>3}  agent {answer.agent_id}  {answer.request_uri.rsplit('/', 1)[-1]}  "
              f"{answer.reason}", flush=True)

    if args.once:
        try:
            for answer in service.poll():
                show(answer)
        except ChainError as error:
            print(f"sextant trust validator: the chain: {error}", file=sys.stderr)
            return EXIT_RUNTIME
        print(f"{service.waiting} waiting for their scenes to be recorded", flush=True)
        return EXIT_OK
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    service.run(stop, show, lambda error: print(f"sextant trust validator: the chain: {error}; trying again",
                                                 file=sys.stderr, flush=True))
    return EXIT_OK


def _sim_out(config: SextantConfig, name: str) -> Path:
    import time

    return Path(config.engine.record_dir or ".") / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-sim-{name}"


def _sim_catalog(config: SextantConfig, catalog: Path, instrument_id: str | None, out: str | None,
                 record: bool, attest: bool = False) -> tuple[Any, Path]:
    """`sextant sim` on an imported market: its summary, and the folder it wrote (with `record`, a scene in it;
    with `attest`, its decisions attested into it)."""
    from sextant.engine.config import EngineConfig, EngineSecrets
    from sextant.engine.sim import catalog_data, data_kind, run_sim

    engine_config = EngineConfig.from_settings(config)
    instrument, data = catalog_data(catalog, instrument_id)
    folder = Path(out) if out else _sim_out(config, f"{catalog.name}-{instrument.id.symbol}")
    summary = run_sim(engine_config, data, folder, record=record, source=str(catalog), instrument=instrument,
                      attest_with=EngineSecrets.from_settings(config) if attest else None)
    kind, bar_type = data_kind(data)
    print(f"sextant sim: {instrument.id} {bar_type or kind} from catalog {catalog}, seed {engine_config.seed} → "
          f"{folder}")
    return summary, folder


def _sim(config: SextantConfig, args: argparse.Namespace) -> int:
    from sextant.engine.config import EngineConfig, EngineSecrets
    from sextant.engine.sim import model_quotes, portfolio_quotes, run_sim, scene_quotes
    from sextant.market.catalog import is_catalog
    from sextant.market.columns import DataError
    from sextant.replay.format import SceneError

    if args.scene and is_catalog(Path(args.scene)):
        try:
            summary, out = _sim_catalog(config, Path(args.scene), args.instrument, args.out, not args.no_record,
                                        args.attest)
        except DataError as error:
            print(f"sextant sim: {error}", file=sys.stderr)
            return EXIT_USAGE
        print(summary.table())
        return EXIT_RUNTIME if summary.attest_error else EXIT_OK
    if args.instrument:
        raise ConfigError("--instrument chooses among a catalog's instruments; give a catalog folder")
    if args.seed is None and args.scene:  # a scene re-runs with the seed it was made with, unless told otherwise
        from sextant.replay.format import METADATA_FILE, read_metadata

        try:
            seed = read_metadata(Path(args.scene)).get("seed")
        except SceneError as error:
            print(f"sextant sim: {error}", file=sys.stderr)
            return EXIT_USAGE
        config = override(config, {"engine.seed": seed}, {"engine.seed": str(Path(args.scene) / METADATA_FILE)})
    engine_config = EngineConfig.from_settings(config)
    if args.quotes <= 1:
        raise ConfigError(f"--quotes={args.quotes}: use at least 2.")
    name = Path(args.scene).name if args.scene else \
        f"{'portfolio' if engine_config.portfolio else 'model'}-seed{engine_config.seed}"
    out = Path(args.out) if args.out else _sim_out(config, name)
    if engine_config.portfolio and args.scene:
        raise ConfigError("--portfolio runs the portfolio model: give no scene")
    if args.estop_at is not None and not (math.isfinite(args.estop_at) and args.estop_at >= 0):
        raise ConfigError(f"--estop-at={args.estop_at}: use seconds from the start, 0 or more")
    portfolio = None
    try:
        if engine_config.portfolio:
            portfolio, quotes = portfolio_quotes(engine_config, args.quotes)
        elif args.scene:
            quotes = scene_quotes(engine_config, Path(args.scene))
        else:
            quotes = model_quotes(engine_config, args.quotes)
    except SceneError as error:
        print(f"sextant sim: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.attest and engine_config.validator and args.no_record:
        raise ConfigError("--attest with a [trust] validator needs the scene: a validator re-runs each decision on "
                          "the context the recording keeps. Drop --no-record.")
    summary = run_sim(engine_config, quotes, out, record=not args.no_record,
                      source=args.scene or ("portfolio model" if portfolio else "model"), portfolio=portfolio,
                      estop_at_s=args.estop_at,
                      attest_with=EngineSecrets.from_settings(config) if args.attest else None)
    print(f"sextant sim: {name}, seed {engine_config.seed} → {out}")
    print(summary.table())
    return EXIT_RUNTIME if summary.attest_error else EXIT_OK


def _data_import(config: SextantConfig, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sextant.market.columns import DataError, parse_mapping
    from sextant.market.importer import ImportOptions, InstrumentTerms, import_data, source_format
    from sextant.market.instrument import InstrumentError

    path = Path(args.path)
    try:
        terms = InstrumentTerms(instrument_id=args.instrument, kind=args.kind, tick=args.tick, lot=args.lot,
                                multiplier=args.multiplier, maker_fee=args.maker_fee, taker_fee=args.taker_fee,
                                base=args.base, quote=args.quote, from_venue=args.from_venue,
                                venue_url=config.engine.okx_base_url_http or None)
        options = ImportOptions(source_format=args.format, kind=args.data, columns=parse_mapping(args.columns),
                                tz=args.tz, epoch_unit=args.epoch_unit, bar=args.bar, bar_time=args.bar_time,
                                price_type=args.price_type, gaps=args.gaps, gap_factor=args.gap_factor,
                                replace=args.replace)
        fmt = args.format or source_format(path)
        with tqdm(unit="B" if fmt == "csv" else "row" if fmt == "parquet" else "file", unit_scale=fmt == "csv",
                  disable=True if args.no_progress else None, file=sys.stderr, desc="import") as bar:
            def advance(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            report = import_data(path, Path(args.catalog), terms, options, advance)
    except (DataError, InstrumentError) as error:
        print(f"sextant data import: {error}", file=sys.stderr)
        return EXIT_USAGE
    for line in report.lines():
        print(line)
    print(f"next: sextant sim {args.catalog} --instrument {report.instrument.id}")
    return EXIT_OK


def _data_show(args: argparse.Namespace) -> int:
    from sextant.market.catalog import catalog_lines
    from sextant.market.columns import DataError

    try:
        lines = catalog_lines(Path(args.catalog))
    except DataError as error:
        print(f"sextant data show: {error}", file=sys.stderr)
        return EXIT_USAGE
    for line in lines:
        print(line)
    return EXIT_OK


def _research(config: SextantConfig, args: argparse.Namespace) -> int:
    from sextant.research.command import default_workers, run_research
    from sextant.research.config import ResearchConfig

    options: dict[str, object] = {"budget": args.budget, "seed": args.seed, "executor": args.executor,
                                  "workers": args.workers or default_workers(), "proposer": args.proposer,
                                  "batch": args.batch, "screen": args.screen,
                                  "screen_slippage_bps": args.slippage_bps}
    if args.families:
        options["families"] = tuple(name.strip() for name in args.families.split(","))
    try:
        research = ResearchConfig.from_options(options)
    except ConfigError as error:
        raise ConfigError(f"sextant research: {error}") from None
    return run_research(config, research, scene=args.scene, quotes=args.quotes, ledger_path=args.ledger,
                        report_dir=args.report, progress=not args.no_progress, market=args.market,
                        instrument=args.instrument,
                        portfolio=[name.strip() for name in args.portfolio.split(",")] if args.portfolio else None)


def _replay(config: SextantConfig, args: argparse.Namespace) -> int:
    from sextant.replay.format import SceneError

    if not 0.25 <= args.speed <= 16:
        raise ConfigError(f"--speed={args.speed}: a replay runs at 0.25× to 16×.")
    args.script = None
    scene = Path(args.scene)
    bridge_config = _bridge_config(config, args)
    from sextant.market.catalog import is_catalog
    from sextant.market.columns import DataError

    if is_catalog(scene):  # an imported market has no recorded crew: the crew sails it first (sextant sim)
        try:
            _, folder = _sim_catalog(config, scene, args.instrument, None, True)
        except DataError as error:
            print(f"sextant replay: {error}", file=sys.stderr)
            return EXIT_USAGE
        scene = folder / "scene"
    elif args.instrument:
        raise ConfigError("--instrument chooses among a catalog's instruments; give a catalog folder")
    try:
        if args.headless and args.frames:
            if not args.out:
                raise ConfigError("--headless --frames N needs --out DIR for the PNGs.")
            from sextant.bridge.replay_frames import replay_frames

            return replay_frames(bridge_config, scene, args.speed, args.frames, Path(args.out), max(1, args.every))
        from sextant.run import replay_interactive

        return replay_interactive(bridge_config, scene, args.speed, _bridge_argv(args), args.config)
    except SceneError as error:
        print(f"sextant replay: {error}", file=sys.stderr)
        return EXIT_USAGE


def _bridge_argv(args: argparse.Namespace) -> list[str]:
    """The `sextant run` options that the bridge child takes."""
    argv = [flag for flag, on in (("--headless", args.headless), ("--windowed", args.windowed)) if on]
    for name in ("size", "script"):
        if getattr(args, name):
            argv += [f"--{name}", getattr(args, name)]
    return argv


def _is_state_file_error(error: Exception) -> bool:
    # Imported only when needed: sextant.state pulls in numpy, which `sextant config` and `--help` do without.
    from sextant.state.shm import StateFileError

    return isinstance(error, StateFileError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.verb == "bench":
            return _run_bench(args.suite, list(args.args))
        config = _with_options(load_config(args.config), args)
        if args.verb == "config":
            if args.config_verb == "check":
                load_llm_config(config.llm.config)
                print("configuration ok")
                return EXIT_OK
            return _config_show(config)
        if args.verb == "replay":
            return _replay(config, args)
        if args.verb == "sim":
            return _sim(config, args)
        if args.verb == "llm":
            return _llm_eval(config, args) if args.llm_verb == "eval" else _llm_status(config)
        if args.verb == "trust":
            return _trust(config, args)
        if args.verb == "research":
            return _research(config, args)
        if args.verb == "data":
            return _data_import(config, args) if args.data_verb == "import" else _data_show(args)
        if args.verb == "bridge":
            bridge_config = _bridge_config(config, args)
            script = Path(args.script).read_text() if args.script else None
            if not args.headless and sys.platform.startswith("linux") and not has_display():
                print("sextant bridge: no display (DISPLAY and WAYLAND_DISPLAY are unset), so the bridge runs "
                      "in this terminal: a status line per second, keys A R Space 1-4 ? q. Use --headless to say so.",
                      flush=True)
                args.headless = True
                bridge_config = _bridge_config(config, args)
            if args.headless and not (args.frames or args.screenshot or script):
                from sextant.bridge.terminal import run_terminal_bridge  # no GL: nothing to draw

                return run_terminal_bridge(bridge_config)
            if args.headless:
                from sextant.bridge.headless import use_headless_gl

                use_headless_gl()  # arcade reads it when first imported, just below
            from sextant.bridge.app import run_bridge
            from sextant.bridge.script import ScriptError

            try:
                return run_bridge(bridge_config, headless=args.headless, frames=args.frames,
                                  screenshot=Path(args.screenshot) if args.screenshot else None, script_text=script)
            except ScriptError as error:
                print(f"sextant bridge: {error}", file=sys.stderr)
                return EXIT_USAGE
        if args.verb in ("engine", "run"):
            from sextant.engine.config import EngineConfig

            engine_config = EngineConfig.from_settings(  # validated here, before any process starts
                config, speed=args.speed, duration_s=args.duration, autonomy=args.autonomy)
            if args.verb == "run":
                from sextant.run import run

                _bridge_config(config, args)  # validated before any process starts
                if args.script and not Path(args.script).is_file():
                    raise ConfigError(f"--script={args.script}: no such file.")
                return run(_engine_argv(args), _bridge_argv(args), args.config,
                           context_path=engine_config.context_path, restart_limit=config.engine.restart_limit)
            from sextant.engine.config import EngineSecrets
            from sextant.engine.node import run_engine

            return run_engine(engine_config, EngineSecrets.from_settings(config))
    except ConfigError as error:
        print(f"sextant: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_RUNTIME
    except Exception as error:
        if not _is_state_file_error(error):
            raise
        print(f"sextant: {error}", file=sys.stderr)  # a state file path that is foreign, broken or unreadable
        return EXIT_USAGE
    parser.print_help()
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
