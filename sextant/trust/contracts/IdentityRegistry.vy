#pragma version ~=0.4.3
# Sextant's ERC-8004 Identity Registry (interface and semantics of ERC-8004 v2.0.0, Jan 2026).
#
# Each agent is an ERC-721 token; its tokenURI is the agentURI (the registration file). Function signatures, events
# and semantics follow the standard, so a client written for the standard's ABI works unchanged:
#   register() / register(string) / register(string, (string,bytes)[])   (Vyper makes the overloads from defaults)
#   setAgentURI, getMetadata, setMetadata, getAgentWallet, unsetAgentWallet, isAuthorizedOrOwner, getVersion,
#   and the ERC-721 core (balanceOf, ownerOf, approve, getApproved, setApprovalForAll, isApprovedForAll,
#   transferFrom, tokenURI, name, symbol, supportsInterface).
# Agent ids start at 0, as in the reference. "agentWallet" is reserved metadata: it starts as the owner's address,
# is cleared on transfer, and only unsetAgentWallet touches it (the EIP-712 setAgentWallet is not built yet).
# Strings and arrays are bounded, as Vyper requires: longer inputs revert.

struct MetadataEntry:
    metadataKey: String[64]
    metadataValue: Bytes[256]

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    tokenId: indexed(uint256)

event Approval:
    owner: indexed(address)
    approved: indexed(address)
    tokenId: indexed(uint256)

event ApprovalForAll:
    owner: indexed(address)
    operator: indexed(address)
    approved: bool

event Registered:
    agentId: indexed(uint256)
    agentURI: String[512]
    owner: indexed(address)

event URIUpdated:
    agentId: indexed(uint256)
    newURI: String[512]
    updatedBy: indexed(address)

event MetadataSet:
    agentId: indexed(uint256)
    indexedMetadataKey: indexed(String[64])
    metadataKey: String[64]
    metadataValue: Bytes[256]

AGENT_WALLET: constant(String[64]) = "agentWallet"
MAX_METADATA: constant(uint256) = 16

nextId: uint256
owners: HashMap[uint256, address]
balances: HashMap[address, uint256]
approvals: HashMap[uint256, address]
operators: HashMap[address, HashMap[address, bool]]
uris: HashMap[uint256, String[512]]
metadata: HashMap[uint256, HashMap[String[64], Bytes[256]]]


@view
@external
def name() -> String[32]:
    return "AgentIdentity"


@view
@external
def symbol() -> String[8]:
    return "AGENT"


@pure
@external
def getVersion() -> String[16]:
    return "2.0.0"


@pure
@external
def supportsInterface(interfaceId: bytes4) -> bool:
    # ERC-165, ERC-721, ERC-721 Metadata
    return interfaceId in [0x01ffc9a7, 0x80ac58cd, 0x5b5e139f]


@view
@internal
def _ownerOf(agentId: uint256) -> address:
    owner: address = self.owners[agentId]
    assert owner != empty(address), "ERC721NonexistentToken"
    return owner


@view
@internal
def _isAuthorizedOrOwner(spender: address, agentId: uint256) -> bool:
    owner: address = self._ownerOf(agentId)
    return spender == owner or self.operators[owner][spender] or self.approvals[agentId] == spender


@internal
def _setWallet(agentId: uint256, wallet: Bytes[256]):
    self.metadata[agentId][AGENT_WALLET] = wallet
    log MetadataSet(agentId=agentId, indexedMetadataKey=AGENT_WALLET, metadataKey=AGENT_WALLET, metadataValue=wallet)


@external
def register(agentURI: String[512] = "", metadata: DynArray[MetadataEntry, MAX_METADATA] = []) -> uint256:
    agentId: uint256 = self.nextId
    self.nextId = agentId + 1
    self.owners[agentId] = msg.sender
    self.balances[msg.sender] += 1
    self.uris[agentId] = agentURI
    log Transfer(sender=empty(address), receiver=msg.sender, tokenId=agentId)
    log Registered(agentId=agentId, agentURI=agentURI, owner=msg.sender)
    for entry: MetadataEntry in metadata:
        assert keccak256(entry.metadataKey) != keccak256(AGENT_WALLET), "reserved key"
        self.metadata[agentId][entry.metadataKey] = entry.metadataValue
        log MetadataSet(agentId=agentId, indexedMetadataKey=entry.metadataKey, metadataKey=entry.metadataKey,
                        metadataValue=entry.metadataValue)
    self._setWallet(agentId, concat(b"", convert(msg.sender, bytes20)))
    return agentId


@external
def setAgentURI(agentId: uint256, newURI: String[512]):
    assert self._isAuthorizedOrOwner(msg.sender, agentId), "Not authorized"
    self.uris[agentId] = newURI
    log URIUpdated(agentId=agentId, newURI=newURI, updatedBy=msg.sender)


@view
@external
def tokenURI(tokenId: uint256) -> String[512]:
    self._ownerOf(tokenId)
    return self.uris[tokenId]


@view
@external
def getMetadata(agentId: uint256, metadataKey: String[64]) -> Bytes[256]:
    return self.metadata[agentId][metadataKey]


@external
def setMetadata(agentId: uint256, metadataKey: String[64], metadataValue: Bytes[256]):
    assert self._isAuthorizedOrOwner(msg.sender, agentId), "Not authorized"
    assert keccak256(metadataKey) != keccak256(AGENT_WALLET), "reserved key"
    self.metadata[agentId][metadataKey] = metadataValue
    log MetadataSet(agentId=agentId, indexedMetadataKey=metadataKey, metadataKey=metadataKey, metadataValue=metadataValue)


@view
@external
def getAgentWallet(agentId: uint256) -> address:
    wallet: Bytes[256] = self.metadata[agentId][AGENT_WALLET]
    if len(wallet) < 20:
        return empty(address)
    return convert(convert(slice(wallet, 0, 20), bytes20), address)


@external
def unsetAgentWallet(agentId: uint256):
    assert self._isAuthorizedOrOwner(msg.sender, agentId), "Not authorized"
    self._setWallet(agentId, b"")


@view
@external
def isAuthorizedOrOwner(spender: address, agentId: uint256) -> bool:
    return self._isAuthorizedOrOwner(spender, agentId)


@view
@external
def balanceOf(owner: address) -> uint256:
    assert owner != empty(address), "ERC721InvalidOwner"
    return self.balances[owner]


@view
@external
def ownerOf(tokenId: uint256) -> address:
    return self._ownerOf(tokenId)


@view
@external
def getApproved(tokenId: uint256) -> address:
    self._ownerOf(tokenId)
    return self.approvals[tokenId]


@view
@external
def isApprovedForAll(owner: address, operator: address) -> bool:
    return self.operators[owner][operator]


@external
def approve(to: address, tokenId: uint256):
    owner: address = self._ownerOf(tokenId)
    assert msg.sender == owner or self.operators[owner][msg.sender], "ERC721InvalidApprover"
    self.approvals[tokenId] = to
    log Approval(owner=owner, approved=to, tokenId=tokenId)


@external
def setApprovalForAll(operator: address, approved: bool):
    assert operator != empty(address), "ERC721InvalidOperator"
    self.operators[msg.sender][operator] = approved
    log ApprovalForAll(owner=msg.sender, operator=operator, approved=approved)


@external
def transferFrom(sender: address, receiver: address, tokenId: uint256):
    assert receiver != empty(address), "ERC721InvalidReceiver"
    owner: address = self._ownerOf(tokenId)
    assert owner == sender, "ERC721IncorrectOwner"
    assert self._isAuthorizedOrOwner(msg.sender, tokenId), "ERC721InsufficientApproval"
    self.approvals[tokenId] = empty(address)
    self.balances[sender] -= 1
    self.balances[receiver] += 1
    self.owners[tokenId] = receiver
    self._setWallet(tokenId, b"")  # the standard clears agentWallet on transfer
    log Transfer(sender=sender, receiver=receiver, tokenId=tokenId)
