// The two wallet families: how each is found, connected and asked to sign,
// and how a signature is checked against the connected address.

import { connectEvm, discoverEvm, signEvm } from "./evm.js";
import { connectStacks, discoverStacks, signStacks } from "./stacks.js";
import { evmSignerMatches, stacksSignerMatches } from "./verify.js";

export const families = {
  stacks: {
    label: "Stacks",
    missing: "No Stacks wallet found in this browser. Install one (Leather, Xverse, …), unlock it and reload this page.",
    discover: async () => discoverStacks(),
    connect: (wallet, info) => connectStacks(wallet, info.stacksNetwork),
    sign: signStacks,
    matches: stacksSignerMatches,
  },
  evm: {
    label: "EVM",
    missing: "No EVM wallet found in this browser. Install one (MetaMask, Rabby, …), unlock it and reload this page.",
    discover: discoverEvm,
    connect: (wallet) => connectEvm(wallet),
    sign: signEvm,
    matches: evmSignerMatches,
  },
};
