"""Portal branding settings: a bad value stops start-up with one line naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings
from gateway.portal_brand import theme_css


def environ(**portal: str) -> dict[str, str]:
    return {f"WALLETGATE_PORTAL__{k.upper()}": v for k, v in portal.items()}


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"accent_color": "teal"}, "portal.accent_color"),
        ({"accent_color": "#12345"}, "portal.accent_color"),
        ({"accent_color": "#0f766e;}body{"}, "portal.accent_color"),
        ({"logo": "/nonexistent/logo.png"}, "portal.logo"),
        ({"logo": "/etc/passwd"}, "portal.logo"),
        ({"title": ""}, "portal.title"),
        ({"title": "x" * 81}, "portal.title"),
    ],
)
def test_bad_branding_names_its_key(values: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, environ(**values))
    message = str(raised.value)
    assert message.startswith(f"{key}:") and "\n" not in message


def test_good_branding_loads(tmp_path: Path) -> None:
    logo = tmp_path / "logo.svg"
    logo.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    settings = load_settings(None, environ(title="Acme", accent_color="#abc", logo=str(logo)))
    assert (settings.portal.title, settings.portal.logo) == ("Acme", str(logo))


def test_text_on_the_accent_is_the_one_that_reads() -> None:
    assert "--accent-ink: #ffffff" in theme_css("#0f766e")  # dark accent, white text
    assert "--accent-ink: #0f172a" in theme_css("#fde047")  # light accent, dark text
    assert "--accent: #4338ca" in theme_css("")  # walletgate's own
