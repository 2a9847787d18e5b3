"""One end-to-end pass through the real gateway and backend."""

from tests.conftest import create_api_key, create_order


async def test_key_created_by_signature_executes_own_order(gateway, stacks_signer):
    created = await create_api_key(gateway, stacks_signer)
    order = await create_order(gateway, stacks_signer, api_key=created["apiKey"])
    async with gateway.client.post(
        gateway.at(f"/api/v1/orders/{order['uuid']}/execute"),
        headers={"X-API-Key": created["apiKey"]},
    ) as response:
        body = await response.json()
        assert response.status == 200, body
        assert body["status"] == "success"
        assert body["txid"].startswith("0x")
