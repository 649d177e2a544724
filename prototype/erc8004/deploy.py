import json, time
from web3 import Web3, EthereumTesterProvider
w3 = Web3(EthereumTesterProvider())
me = w3.eth.accounts[0]
w3.eth.default_account = me
def art(n): return json.load(open(f"build-{n}.json"))
def deploy(n, *args):
    a = art(n); c = w3.eth.contract(abi=a["abi"], bytecode=a["bytecode"])
    r = w3.eth.wait_for_transaction_receipt(c.constructor(*args).transact({"gas": 15_000_000}))
    return r.contractAddress
minimal = deploy("MinimalUUPS")
mabi = art("MinimalUUPS")["abi"]
def proxy(identity):
    init = w3.eth.contract(abi=mabi).encode_abi("initialize", [identity])
    return deploy("ERC1967Proxy", minimal, init)
uups_abi = [{"type":"function","name":"upgradeToAndCall","stateMutability":"payable","inputs":[{"name":"newImplementation","type":"address"},{"name":"data","type":"bytes"}],"outputs":[]}]
def upgrade(p, name, init_args):
    impl = deploy(name)
    c = w3.eth.contract(abi=art(name)["abi"])
    data = c.encode_abi("initialize", init_args)
    w3.eth.wait_for_transaction_receipt(w3.eth.contract(address=p, abi=uups_abi).functions.upgradeToAndCall(impl, data).transact({"gas": 15_000_000}))
    return w3.eth.contract(address=p, abi=art(name)["abi"])
t = time.perf_counter()
idp = proxy("0x0000000000000000000000000000000000000000")
identity = upgrade(idp, "IdentityRegistryUpgradeable", [])
rep = upgrade(proxy(idp), "ReputationRegistryUpgradeable", [idp])
val = upgrade(proxy(idp), "ValidationRegistryUpgradeable", [idp])
print("deployed 3 proxies in", round(time.perf_counter() - t, 2), "s")
print(identity.functions.getVersion().call(), identity.functions.name().call(), rep.functions.getIdentityRegistry().call() == idp)
tx = identity.functions.register("data:application/json;base64," + "A" * 4096).transact({"gas": 15_000_000})
r = w3.eth.wait_for_transaction_receipt(tx)
print("register 4KB uri gas", r.gasUsed, "status", r.status)
client = w3.eth.accounts[1]
r = w3.eth.wait_for_transaction_receipt(rep.functions.giveFeedback(0, 95, 0, "t" * 1024, "x", "", "", b"\0" * 32).transact({"from": client, "gas": 15_000_000}))
print("feedback 1KB tag gas", r.gasUsed, r.status, rep.functions.getSummary(0, [client], "", "").call())
