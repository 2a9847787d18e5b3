"""What each route of the gateway is: its credentials, its quota, its IP charges.

Every route the main listener serves through admission is a `Route`: the
forwarded order routes (from `[[routes]]`, defaulting to the product's
table) and key management of both dialects (fixed). A route declares, as
closed sets, which credentials it accepts, which rate-limit scope an admitted
request counts in, what the client IP pays before costly work, and which
ending serves it once admitted. `gateway.http.admit` reads these and nothing
else: no handler decides again which credential or which limit applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gateway.config import OwnerSource, RouteSettings
from gateway.keys.model import Permission
from gateway.order_schemes_config import route_scheme


class Credential(StrEnum):
    """How a request may prove who it is on a route."""

    API_KEY = "api_key"  # X-API-Key: a wallet's own key
    SIGNED_MESSAGE = "signed_message"  # message, signature, wallet: headers or body fields
    ORDER_SIGNATURE = "order_signature"  # the body is an order signed by its owner
    SERVICE_KEY = "service_key"  # X-API-Key: an operator's service key, + X-Wallet-Address
    PUBLIC = "public"  # nothing: served to anyone, counted per client IP
    # An operator bearer token for /admin/v1 fits here as one more member: admit
    # would check it as it checks a service key, and the route would declare it.


class QuotaScope(StrEnum):
    """Which rate-limit scope an admitted request counts in."""

    # The identity's own (section 5): a key's, a signing wallet's, else the client IP's.
    IDENTITY = "identity"
    # Key management's per-wallet scope: it never consumes order quota.
    MANAGEMENT = "management"


class IpCharge(StrEnum):
    """What the client IP pays before costly work: wallets and made-up keys are
    free to invent, addresses are not."""

    SIGNING = "signing"  # the per-IP signing ceiling, before a signature is verified
    KEY_CREATION = "key_creation"  # the per-IP creation ceiling, before a key can be made
    KEY_LOOKUP = "key_lookup"  # the public per-IP quota, before an uncached key is looked up


# The members the request paths compare against, read once here. On Python
# 3.11 reading a member off its enum class runs the metaclass's `__getattr__`
# hook, about a thousand instructions each time; a module constant costs none.
CREDENTIAL_API_KEY = Credential.API_KEY
CREDENTIAL_SIGNED_MESSAGE = Credential.SIGNED_MESSAGE
CREDENTIAL_ORDER_SIGNATURE = Credential.ORDER_SIGNATURE
CREDENTIAL_SERVICE_KEY = Credential.SERVICE_KEY
CREDENTIAL_PUBLIC = Credential.PUBLIC
CHARGE_SIGNING = IpCharge.SIGNING
CHARGE_KEY_CREATION = IpCharge.KEY_CREATION
CHARGE_KEY_LOOKUP = IpCharge.KEY_LOOKUP
SCOPE_IDENTITY = QuotaScope.IDENTITY
SCOPE_MANAGEMENT = QuotaScope.MANAGEMENT


class Ending(StrEnum):
    """What serves a request once it is admitted."""

    FORWARD = "forward"  # to the upstream (proxy mode), or an allow (a decision)
    CREATE_KEY = "create_key"
    LIST_KEYS = "list_keys"
    GET_KEY = "get_key"
    REVOKE_KEY = "revoke_key"
    ROTATE_KEY = "rotate_key"
    LIST_KEY_EVENTS = "list_key_events"
    GENERATE_KEY = "generate_key"  # service-key dialect
    REVOKE_WALLET_KEY = "revoke_wallet_key"  # service-key dialect
    # A public page of walletgate's own (portal, interface description, order
    # schemes), served by its aiohttp handler after admission.
    PAGE = "page"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    credentials: frozenset[Credential]
    scope: QuotaScope
    ip_charges: frozenset[IpCharge]
    ending: Ending = Ending.FORWARD
    permission: Permission | None = None
    owner: OwnerSource = OwnerSource.NONE
    action: str | None = None  # the signed message's `action` on this route
    # The order-signature scheme's name when ORDER_SIGNATURE is accepted.
    order_scheme: str | None = None
    # True for the service-key dialect: answers carry `"success": false` and its codes.
    service_dialect: bool = False
    # Worked out once from the fields above: every request asks.
    public: bool = field(init=False, compare=False, repr=False)
    order_signature: bool = field(init=False, compare=False, repr=False)
    forwarded: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public", Credential.PUBLIC in self.credentials)
        object.__setattr__(self, "order_signature", Credential.ORDER_SIGNATURE in self.credentials)
        object.__setattr__(self, "forwarded", self.ending == Ending.FORWARD)


DEFAULT_ROUTES: tuple[RouteSettings, ...] = (
    RouteSettings(
        "POST",
        "/api/v1/orders/new",
        permission="create",
        owner=OwnerSource.BODY,
        order_signature=True,
    ),
    RouteSettings(
        "POST",
        "/api/v1/orders/{uuid}/execute",
        permission="execute",
        owner=OwnerSource.ORDER,
        action="execute_order",
    ),
    RouteSettings(
        "PATCH",
        "/api/v1/orders/{uuid}/cancel",
        permission="cancel",
        owner=OwnerSource.ORDER,
        action="cancel_order",
    ),
    RouteSettings("GET", "/api/v1/orders/{uuid}", public=True),
    RouteSettings("GET", "/api/v1/orders", public=True),
)


def build_route(settings: RouteSettings) -> Route:
    """A forwarded route: a key always works; a signed message where the route
    names its action; an order signature where it names a scheme; nothing where
    it is public. Any key is looked up only once the IP's public quota allows."""
    scheme = route_scheme(settings.order_signature)
    credentials = {Credential.API_KEY}
    if settings.action:
        credentials.add(Credential.SIGNED_MESSAGE)
    if scheme is not None:
        credentials.add(Credential.ORDER_SIGNATURE)
    if settings.public:
        credentials.add(Credential.PUBLIC)
    charges = {IpCharge.KEY_LOOKUP}
    if settings.action or scheme is not None:
        charges.add(IpCharge.SIGNING)
    return Route(
        method=settings.method.upper(),
        template=settings.path,
        credentials=frozenset(credentials),
        scope=QuotaScope.IDENTITY,
        ip_charges=frozenset(charges),
        permission=Permission(settings.permission) if settings.permission else None,
        owner=OwnerSource(settings.owner),
        action=settings.action or None,
        order_scheme=scheme,
    )


_PUBLIC = frozenset({Credential.PUBLIC})
_NO_CHARGES: frozenset[IpCharge] = frozenset()


def page_route(template: str) -> Route:
    """A public GET of walletgate's own: anyone, counted against the client IP."""
    return Route("GET", template, _PUBLIC, QuotaScope.IDENTITY, _NO_CHARGES, Ending.PAGE)


_SIGNED = frozenset({Credential.SIGNED_MESSAGE})
_SIGNING = frozenset({IpCharge.SIGNING})
_SIGNING_AND_CREATION = frozenset({IpCharge.SIGNING, IpCharge.KEY_CREATION})
_SERVICE = frozenset({Credential.SERVICE_KEY, Credential.API_KEY})


def _signed(method: str, template: str, ending: Ending, action: str, creates: bool) -> Route:
    charges = _SIGNING_AND_CREATION if creates else _SIGNING
    return Route(method, template, _SIGNED, QuotaScope.MANAGEMENT, charges, ending, action=action)


def _service(template: str, ending: Ending, creates: bool) -> Route:
    charges = {IpCharge.KEY_LOOKUP} | ({IpCharge.KEY_CREATION} if creates else set())
    return Route(
        "POST",
        template,
        _SERVICE,
        QuotaScope.MANAGEMENT,
        frozenset(charges),
        ending,
        service_dialect=True,
    )


_KEY = "/api/v1/api-keys/{keyId}"

# Key management (product section 3.1): served by the gateway itself, fixed.
KEY_ROUTES: tuple[Route, ...] = (
    _signed("POST", "/api/v1/api-keys", Ending.CREATE_KEY, "create_api_key", True),
    _signed("GET", "/api/v1/api-keys", Ending.LIST_KEYS, "list_api_keys", False),
    _signed("GET", _KEY, Ending.GET_KEY, "get_api_key", False),
    _signed("DELETE", _KEY, Ending.REVOKE_KEY, "delete_api_key", False),
    _signed("POST", _KEY + "/rotate", Ending.ROTATE_KEY, "rotate_api_key", True),
    _signed("GET", _KEY + "/events", Ending.LIST_KEY_EVENTS, "list_api_key_events", False),
    _service("/api-key/generate", Ending.GENERATE_KEY, True),
    _service("/api-key/revoke", Ending.REVOKE_WALLET_KEY, False),
)
