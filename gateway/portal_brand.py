"""The exchange's own look for the key portal: title, accent colour and logo.

Checked when the configuration loads (a bad value stops start-up naming its
key) and turned into what the portal serves: the page's title, a stylesheet
with the accent colour and the logo file, all from the gateway's own origin
so the page's Content-Security-Policy stays self-only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

DEFAULT_TITLE: Final = "API keys"
DEFAULT_ACCENT: Final = "#4338ca"
MAX_TITLE_CHARS: Final = 80
MAX_LOGO_BYTES: Final = 512 * 1024
LOGO_TYPES: Final = MappingProxyType(
    {
        ".png": "image/png",
        ".svg": "image/svg+xml",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".webp": "image/webp",
    }
)
_HEX_COLOUR: Final = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


class BrandError(ValueError):
    """A portal branding value is wrong; the message names the key."""


def check_brand(title: str, accent_color: str, logo: str) -> None:
    if not title.strip() or len(title) > MAX_TITLE_CHARS or _CONTROL.search(title):
        raise BrandError(f"portal.title: expected 1 to {MAX_TITLE_CHARS} printable characters")
    if accent_color and not _HEX_COLOUR.fullmatch(accent_color):
        raise BrandError(f'portal.accent_color: expected "#rrggbb" or "#rgb", not {accent_color!r}')
    if logo:
        logo_path(logo)


def logo_path(logo: str) -> Path:
    path = Path(logo)
    if path.suffix.lower() not in LOGO_TYPES:
        raise BrandError(f"portal.logo: expected a {', '.join(LOGO_TYPES)} file, not {logo!r}")
    try:
        size = path.stat().st_size
    except OSError:
        raise BrandError(f"portal.logo: no readable file at {logo!r}") from None
    if not path.is_file() or size > MAX_LOGO_BYTES:
        raise BrandError(f"portal.logo: {logo!r} must be a file of at most {MAX_LOGO_BYTES} bytes")
    return path


@dataclass(frozen=True, slots=True)
class Logo:
    name: str  # served as /portal/<name>
    body: bytes
    content_type: str


def read_logo(logo: str) -> Logo | None:
    """The logo file, read once at start-up (None when none is configured)."""
    if not logo:
        return None
    path = logo_path(logo)
    suffix = path.suffix.lower()
    try:
        body = path.read_bytes()
    except OSError:
        raise BrandError(f"portal.logo: no readable file at {logo!r}") from None
    return Logo(f"logo{suffix}", body, LOGO_TYPES[suffix])


def _rgb(colour: str) -> tuple[int, int, int]:
    digits = colour[1:]
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _luminance(colour: str) -> float:
    """WCAG relative luminance, to choose the text colour that reads on the accent."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def theme_css(accent_color: str) -> str:
    """The stylesheet that carries the accent colour (no inline style: the CSP forbids it)."""
    accent = (accent_color or DEFAULT_ACCENT).lower()
    # White text unless the accent is so light that dark text contrasts more.
    ink = "#ffffff" if (1.05 / (_luminance(accent) + 0.05)) >= 4.5 else "#0f172a"
    return f":root {{ --accent: {accent}; --accent-ink: {ink}; }}\n"
