#pragma version ~=0.4.3
# Sextant's ERC-8004 Reputation Registry (interface and semantics of ERC-8004 v2.0.0, Jan 2026).
#
# giveFeedback(agentId, int128 value, uint8 valueDecimals, tag1, tag2, endpoint, feedbackURI, feedbackHash),
# revokeFeedback, readFeedback, getSummary, getClients, getLastIndex, getIdentityRegistry, getVersion, with the
# standard's NewFeedback and FeedbackRevoked events. Semantics from the reference:
#   * no self-feedback: the agent's owner or an approved operator may not rate it;
#   * feedbackIndex is 1-based per (agent, client); values are fixed point, |value| <= 1e38, decimals 0..18;
#   * getSummary needs a non-empty client list, skips revoked feedback, filters by tags when given, averages at 18
#     decimals (truncating) and reports at the most common decimals seen.
# (`value` is reserved for Vyper arguments, hence `value_`; the ABI name does not enter the selector.)

interface IdentityRegistry:
    def isAuthorizedOrOwner(spender: address, agentId: uint256) -> bool: view

struct Feedback:
    value: int128
    valueDecimals: uint8
    isRevoked: bool
    tag1: String[64]
    tag2: String[64]

event NewFeedback:
    agentId: indexed(uint256)
    clientAddress: indexed(address)
    feedbackIndex: uint64
    value: int128
    valueDecimals: uint8
    indexedTag1: indexed(String[64])
    tag1: String[64]
    tag2: String[64]
    endpoint: String[256]
    feedbackURI: String[512]
    feedbackHash: bytes32

event FeedbackRevoked:
    agentId: indexed(uint256)
    clientAddress: indexed(address)
    feedbackIndex: indexed(uint64)

MAX_ABS_VALUE: constant(int128) = 10 ** 38
MAX_CLIENTS: constant(uint256) = 1024
MAX_PER_CLIENT: constant(uint64) = 100000

identityRegistry: immutable(address)
feedback: HashMap[uint256, HashMap[address, HashMap[uint64, Feedback]]]
lastIndex: HashMap[uint256, HashMap[address, uint64]]
clients: HashMap[uint256, DynArray[address, MAX_CLIENTS]]
isClient: HashMap[uint256, HashMap[address, bool]]


@deploy
def __init__(identityRegistry_: address):
    assert identityRegistry_ != empty(address), "identity registry required"
    identityRegistry = identityRegistry_


@view
@external
def getIdentityRegistry() -> address:
    return identityRegistry


@pure
@external
def getVersion() -> String[16]:
    return "2.0.0"


@external
def giveFeedback(agentId: uint256, value_: int128, valueDecimals: uint8, tag1: String[64], tag2: String[64],
                 endpoint: String[256], feedbackURI: String[512], feedbackHash: bytes32):
    assert valueDecimals <= 18, "too many decimals"
    assert value_ >= -MAX_ABS_VALUE and value_ <= MAX_ABS_VALUE, "value too large"
    # Reverts for an agent that does not exist (ownerOf fails inside).
    assert not staticcall IdentityRegistry(identityRegistry).isAuthorizedOrOwner(msg.sender, agentId), \
        "Self-feedback not allowed"
    index: uint64 = self.lastIndex[agentId][msg.sender] + 1
    assert index <= MAX_PER_CLIENT, "too much feedback from this client"
    self.lastIndex[agentId][msg.sender] = index
    self.feedback[agentId][msg.sender][index] = Feedback(value=value_, valueDecimals=valueDecimals, isRevoked=False,
                                                         tag1=tag1, tag2=tag2)
    if not self.isClient[agentId][msg.sender]:
        self.clients[agentId].append(msg.sender)
        self.isClient[agentId][msg.sender] = True
    log NewFeedback(agentId=agentId, clientAddress=msg.sender, feedbackIndex=index, value=value_,
                    valueDecimals=valueDecimals, indexedTag1=tag1, tag1=tag1, tag2=tag2, endpoint=endpoint,
                    feedbackURI=feedbackURI, feedbackHash=feedbackHash)


@external
def revokeFeedback(agentId: uint256, feedbackIndex: uint64):
    assert feedbackIndex > 0 and feedbackIndex <= self.lastIndex[agentId][msg.sender], "index out of bounds"
    assert not self.feedback[agentId][msg.sender][feedbackIndex].isRevoked, "Already revoked"
    self.feedback[agentId][msg.sender][feedbackIndex].isRevoked = True
    log FeedbackRevoked(agentId=agentId, clientAddress=msg.sender, feedbackIndex=feedbackIndex)


@view
@external
def getLastIndex(agentId: uint256, clientAddress: address) -> uint64:
    return self.lastIndex[agentId][clientAddress]


@view
@external
def getClients(agentId: uint256) -> DynArray[address, MAX_CLIENTS]:
    return self.clients[agentId]


@view
@external
def readFeedback(agentId: uint256, clientAddress: address,
                 feedbackIndex: uint64) -> (int128, uint8, String[64], String[64], bool):
    assert feedbackIndex > 0 and feedbackIndex <= self.lastIndex[agentId][clientAddress], "index out of bounds"
    entry: Feedback = self.feedback[agentId][clientAddress][feedbackIndex]
    return entry.value, entry.valueDecimals, entry.tag1, entry.tag2, entry.isRevoked


@view
@external
def getSummary(agentId: uint256, clientAddresses: DynArray[address, 64], tag1: String[64],
               tag2: String[64]) -> (uint64, int128, uint8):
    assert len(clientAddresses) > 0, "clientAddresses required"
    no_tag: bytes32 = keccak256("")
    tag1_hash: bytes32 = keccak256(tag1)
    tag2_hash: bytes32 = keccak256(tag2)
    total: int256 = 0
    count: uint64 = 0
    decimals_seen: uint64[19] = empty(uint64[19])
    for client: address in clientAddresses:
        last: uint64 = self.lastIndex[agentId][client]
        for index: uint64 in range(1, last + 1, bound=MAX_PER_CLIENT):
            entry: Feedback = self.feedback[agentId][client][index]
            if entry.isRevoked:
                continue
            if tag1_hash != no_tag and tag1_hash != keccak256(entry.tag1):
                continue
            if tag2_hash != no_tag and tag2_hash != keccak256(entry.tag2):
                continue
            total += convert(entry.value, int256) * convert(10 ** convert(18 - entry.valueDecimals, uint256), int256)
            decimals_seen[entry.valueDecimals] += 1
            count += 1
    if count == 0:
        return 0, 0, 0
    most: uint64 = 0
    mode: uint8 = 0
    for decimals: uint8 in range(19):
        if decimals_seen[decimals] > most:
            most = decimals_seen[decimals]
            mode = decimals
    average: int256 = total // convert(count, int256)
    return count, convert(average // convert(10 ** convert(18 - mode, uint256), int256), int128), mode
