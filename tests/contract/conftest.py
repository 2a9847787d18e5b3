"""The key store fixtures (both backends), shared by every store suite in this folder."""

# Re-exported so pytest finds them for test_admin_queries.py too; defined beside the
# suite that introduced them.
from tests.contract.test_key_store import second_store, store, store_url

__all__ = ["second_store", "store", "store_url"]
