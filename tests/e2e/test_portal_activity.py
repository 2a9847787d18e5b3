"""An ordinary visit sends nothing unsigned, every signed message is bound to
the deployment, and the owner sees what each key is doing: hours by outcome,
the addresses it was used from (new ones marked) and its events."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.logs import PREFORMATTED
from tests.conftest import Clock, GatewayFactory, create_api_key
from tests.support.portal_browser import TestWallet
from tests.support.portal_steps import PortalFactory, create_in_page, wait_for_usage
from tests.support.rate_limit_support import call

# The portal fixtures (browser, open_portal, portal_wallet, shots_root).
pytest_plugins = ["tests.support.portal_fixtures"]

DOMAIN = "keys.exchange.test"


class Lines(logging.Handler):
    """The access lines the gateway hands to its log handlers."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.text: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.text.extend(str(getattr(record, PREFORMATTED, record.getMessage())).splitlines())


@pytest.fixture
def access_lines() -> Iterator[Lines]:
    logger = logging.getLogger("walletgate.access")
    lines, level = Lines(), logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(lines)
    logger.setLevel(level)


async def test_an_ordinary_visit_makes_no_401_and_binds_every_message(
    start_gateway: GatewayFactory,
    open_portal: PortalFactory,
    portal_wallet: TestWallet,
    access_lines: Lines,
) -> None:
    gw = await start_gateway(log={"access": True}, signatures={"domain": DOMAIN})
    portal = await open_portal(gw)
    page = portal.page
    await portal.connect("evm")
    shown = await create_in_page(portal, "Visit bot")
    await page.get_by_role("button", name="I have saved it").click()
    await page.get_by_role("button", name="Refresh").click()
    await portal.idle()
    row = page.get_by_test_id("key-row")
    await row.get_by_test_id("activity").click()
    await portal.idle()
    await row.get_by_test_id("rotate").click()
    await page.get_by_test_id("confirm").click()
    await portal.idle()
    await page.get_by_role("button", name="I have saved it").click()
    for _ in range(2):
        await page.get_by_test_id("revoke").first.click()
        await page.get_by_test_id("confirm").click()
        await portal.idle()
    assert await page.get_by_test_id("error").is_hidden()
    assert await gw.gw.keys.list_for(portal_wallet.evm.address.lower()) != []
    assert shown not in await page.content()

    # Every message the wallet signed named this deployment.
    actions = [re.search(r'"action":"(\w+)"', m).group(1) for m in portal_wallet.signed]  # type: ignore[union-attr]
    assert actions == [
        "list_api_keys",
        "create_api_key",
        "list_api_keys",
        "list_api_key_events",
        "rotate_api_key",
        "delete_api_key",
        "delete_api_key",
    ]
    assert all(f'"domain":"{DOMAIN}"' in m for m in portal_wallet.signed)
    # No 401, neither counted nor logged; and the one unsigned API call is the public binding.
    metrics = await call(gw.client, "GET", gw.admin_url + "/metrics")
    failures = [
        s.value
        for family in text_string_to_metric_families(metrics.raw.decode())
        for s in family.samples
        if s.name == "walletgate_auth_failures_total"
    ]
    assert sum(failures) == 0
    await asyncio_flush()
    statuses = [
        int(m.group(1)) for line in access_lines.text if (m := re.search(r"status=(\d+)", line))
    ]
    assert statuses and 401 not in statuses, access_lines.text
    assert not any("key_0000000000000000" in url for url in portal.requested)
    assert portal.foreign_requests() == []


async def asyncio_flush() -> None:
    """Access lines are handed over in batches a few ms apart."""
    import asyncio

    from gateway.http.access_log import FLUSH_DELAY_S

    await asyncio.sleep(FLUSH_DELAY_S * 5)


async def test_the_owner_sees_hours_by_outcome_addresses_and_events(
    start_gateway: GatewayFactory, open_portal: PortalFactory, portal_wallet: TestWallet
) -> None:
    # The browser signs with its own clock: the gateway's is the real time, set
    # to the start of this minute so the key's per-minute window holds all 12.
    minute = time.time() // 60 * 60
    gw = await start_gateway(clock=Clock(now=minute), listen={"trusted_proxies": ["127.0.0.0/8"]})
    signer = portal_wallet.stacks
    made = await create_api_key(gw, signer, "Market maker", rateLimit=5)
    statuses = []
    for address in ["203.0.113.7"] * 9 + ["198.51.100.4"] * 3:
        headers = {"X-API-Key": made["apiKey"], "X-Forwarded-For": address}
        gw.clock.advance(0.1)
        statuses.append(
            (await call(gw.client, "GET", gw.at("/api/v1/orders"), headers=headers)).status
        )
    assert statuses.count(429) == 7
    await wait_for_usage(gw, signer.address, made["keyId"], 12)

    portal = await open_portal(gw)
    await portal.connect("stacks")
    row = portal.page.locator(f'[data-testid="key-row"][data-key-id="{made["keyId"]}"]')
    await row.get_by_test_id("activity").click()
    await portal.idle()
    activity = portal.page.locator(f'[data-activity-of="{made["keyId"]}"]')
    clients = activity.get_by_test_id("client-ip")
    assert [await c.get_attribute("data-ip") for c in await clients.all()] == [
        "198.51.100.4",
        "203.0.113.7",
    ]
    assert [await c.get_attribute("data-new") for c in await clients.all()] == ["true", "true"]
    assert "9 requests" in await clients.nth(1).inner_text()
    legend = " ".join((await activity.locator(".legend").inner_text()).split())
    assert "Success 5 Client error 0 Rate limited 7 Server error 0" in legend
    assert await activity.locator('svg.hourly rect[data-outcome="rateLimited"]').count() == 1
    assert await activity.locator("svg.hourly text.tick").count() >= 3  # values on the axes
    kinds = [
        await e.get_attribute("data-event") for e in await activity.locator(".events li").all()
    ]
    assert sorted(kinds) == ["created", "new_ip", "new_ip"]
    counters = " ".join((await activity.locator(".counters").inner_text()).split())
    assert counters == "Requests 12 Succeeded 5 Failed 7 Rate limited 7"
    await portal.shot("activity")
