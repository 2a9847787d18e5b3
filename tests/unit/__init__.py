"""walletgate tests."""
