// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import "@openzeppelin/contracts-upgradeable/access/OwnableUpgradeable.sol";

/**
 * @title RegistryBootstrap
 * @dev The ERC-8004 reference's MinimalUUPS (erc-8004/erc-8004-contracts @ b9e466c, MIT), with one change: the owner
 * is the deployer, not the reference's hard-coded deployer. A proxy starts on this implementation and is then
 * upgraded to a registry, whose `initialize` is `reinitializer(2) onlyOwner`, as the reference deploys them.
 *
 * Uses a regular storage slot (slot 0) for identityRegistry, which the real implementations
 * also use (outside their ERC-7201 namespaced storage).
 */
contract RegistryBootstrap is OwnableUpgradeable, UUPSUpgradeable {
    /// @dev Identity registry address stored at slot 0 (matches real implementations)
    address private _identityRegistry;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    function initialize(address identityRegistry_) public initializer {
        __Ownable_init(msg.sender);
        __UUPSUpgradeable_init();
        _identityRegistry = identityRegistry_;
    }

    function _authorizeUpgrade(address newImplementation) internal override onlyOwner {}

    function getVersion() external pure returns (string memory) {
        return "0.0.1";
    }
}
