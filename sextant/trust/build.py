"""`make contracts`: compile the ERC-8004 registries in `contracts/` with Vyper (a pure-Python compiler, so it
works offline) and write `contracts/build/<Name>.json`: the ABI, the deployable bytecode, the compiler version
and the source's SHA-256. The artifacts are committed; the engine and the tests load only them, and a test checks
they still match the sources.

    python -m sextant.trust.build [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
BUILD_DIR = CONTRACTS_DIR / "build"
CONTRACTS = ("IdentityRegistry", "ReputationRegistry")


def source_sha256(name: str) -> str:
    return hashlib.sha256((CONTRACTS_DIR / f"{name}.vy").read_bytes()).hexdigest()


def compile_contract(name: str) -> dict[str, Any]:
    import vyper

    source = (CONTRACTS_DIR / f"{name}.vy").read_text()
    output = vyper.compile_code(source, output_formats=["abi", "bytecode"], contract_path=f"{name}.vy")
    return {"contractName": name, "compiler": f"vyper {vyper.__version__}", "sourceSha256": source_sha256(name),
            "abi": output["abi"], "bytecode": output["bytecode"]}


def load_artifact(name: str) -> dict[str, Any]:
    path = BUILD_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: run `make contracts` to compile the registries") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compile and compare with the committed artifacts")
    args = parser.parse_args()
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    stale = []
    for name in CONTRACTS:
        artifact = compile_contract(name)
        path = BUILD_DIR / f"{name}.json"
        if args.check:
            if not path.exists() or json.loads(path.read_text()) != artifact:
                stale.append(name)
            continue
        path.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {len(artifact['bytecode']) // 2 - 1} bytes of init code → {path}")
    if stale:
        print(f"stale artifacts: {', '.join(stale)}; run `make contracts`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
