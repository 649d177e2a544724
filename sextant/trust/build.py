"""`make contracts`: compile the ERC-8004 registries in `contracts/` (the standard's v2.0.0 reference on OpenZeppelin,
contracts/SOURCES.md) and write `contracts/build/<Name>.json`: the ABI, the deployable bytecode, the compiler, the
settings and the source's SHA-256. The artifacts are committed; the engine and the tests load only them, and a test
checks that they still match the sources (and, where the compiler is installed, that compiling gives them again).

The compiler is solc-js (npm `solc`: the Solidity compiler as WebAssembly, so it runs offline once installed) with
OpenZeppelin Contracts from npm, pinned below and installed into .tools/solc by `make contracts`. Node and npm are
needed to build, never to run.

    python -m sextant.trust.build [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
BUILD_DIR = CONTRACTS_DIR / "build"
TOOLS_DIR = Path(__file__).resolve().parents[2] / ".tools" / "solc"
# artifact name → the contract (its file is contracts/<contract>.sol)
CONTRACTS = {"IdentityRegistry": "IdentityRegistryUpgradeable", "ReputationRegistry": "ReputationRegistryUpgradeable",
             "ValidationRegistry": "ValidationRegistryUpgradeable", "ERC1967Proxy": "ERC1967Proxy",
             "RegistryBootstrap": "RegistryBootstrap"}
NPM_PACKAGES = ("solc@0.8.24", "@openzeppelin/contracts@5.4.0", "@openzeppelin/contracts-upgradeable@5.4.0")
# the reference's own settings (its hardhat config): the registries need viaIR ("stack too deep" without it)
SETTINGS: dict[str, Any] = {"optimizer": {"enabled": True, "runs": 200}, "viaIR": True, "evmVersion": "shanghai",
                            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}}


class CompilerUnavailable(RuntimeError):
    """Node or npm is missing, or the pinned packages could not be installed: the message says which."""


def source_sha256(name: str) -> str:
    return hashlib.sha256((CONTRACTS_DIR / f"{CONTRACTS[name]}.sol").read_bytes()).hexdigest()


def compiler_installed() -> bool:
    return shutil.which("node") is not None and (TOOLS_DIR / "node_modules" / "solc").exists()


def install_compiler() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise CompilerUnavailable("compiling the registries needs Node and npm (apt install npm)")
    if compiler_installed():
        return
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(TOOLS_DIR),
                           *NPM_PACKAGES], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CompilerUnavailable(f"npm install {' '.join(NPM_PACKAGES)} failed: {done.stderr.strip()[-500:]}")


def compile_all() -> dict[str, dict[str, Any]]:
    """Every contract in one compiler run, as artifacts by name."""
    install_compiler()
    sources = {f"{contract}.sol": {"content": (CONTRACTS_DIR / f"{contract}.sol").read_text()}
               for contract in CONTRACTS.values()}
    request = json.dumps({"language": "Solidity", "sources": sources, "settings": SETTINGS})
    done = subprocess.run(["node", str(CONTRACTS_DIR / "compile.cjs"), str(TOOLS_DIR / "node_modules")],
                          input=request, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CompilerUnavailable(f"solc-js failed: {done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout)
    errors = [e["formattedMessage"] for e in result["output"].get("errors", []) if e["severity"] == "error"]
    if errors:
        raise RuntimeError("the registries do not compile:\n" + "\n".join(errors))
    settings = {key: value for key, value in SETTINGS.items() if key != "outputSelection"}
    artifacts = {}
    for name, contract in CONTRACTS.items():
        compiled = result["output"]["contracts"][f"{contract}.sol"][contract]
        artifacts[name] = {"contractName": contract, "compiler": f"solc-js {result['version']}",
                           "settings": settings, "dependencies": list(NPM_PACKAGES[1:]),
                           "sourceSha256": source_sha256(name), "abi": compiled["abi"],
                           "bytecode": "0x" + compiled["evm"]["bytecode"]["object"]}
    return artifacts


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
    try:
        artifacts = compile_all()
    except CompilerUnavailable as error:
        print(f"sextant.trust.build: {error}", file=sys.stderr)
        return 2
    stale = []
    for name, artifact in artifacts.items():
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
