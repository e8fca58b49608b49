"""Canonical URLs: one spelling per article so de-duplication by URL works."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "yclid",
        "igshid",
        "ref_src",
        "ref_url",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wt_mc",
        "spm",
        "at_medium",
        "at_campaign",
        "cmpid",
        "ocid",
        "s_cid",
        "twclid",
        "ttclid",
        "li_fat_id",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


def _is_tracking(name: str) -> bool:
    """Tell whether a query parameter name only tracks the reader."""
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def _idna_host(host: str) -> str:
    """Lower-case a host name and turn an internationalised one into punycode."""
    host = host.strip().rstrip(".").lower()
    if not host or host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        labels = []
        for label in host.split("."):
            if label.isascii():
                labels.append(label)
            else:
                labels.append("xn--" + label.encode("punycode").decode("ascii"))
        return ".".join(labels)


def _netloc(scheme: str, host: str, port: int | None, userinfo: str) -> str:
    """Assemble a netloc without the scheme's default port."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    netloc = host
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc = f"{host}:{port}"
    return f"{userinfo}@{netloc}" if userinfo else netloc


def _normalise_path(path: str) -> str:
    """Percent-encode a path consistently and make an empty one '/'."""
    if not path:
        return "/"
    quoted = quote(path, safe=_PATH_SAFE)
    return _ESCAPE.sub(lambda m: m.group(0).upper(), quoted)


def canonical_url(url: str, base: str | None = None) -> str:
    """Return the canonical form of a URL (relative ones resolved against base)."""
    raw = (url or "").strip()
    if base:
        raw = urljoin(base.strip(), raw)
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return raw
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return raw
    host = _idna_host(parts.hostname)
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    query_pairs = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    query_pairs.sort()
    query = urlencode(query_pairs, quote_via=quote, safe="/:@!$'()*+,;-._~")
    path = _normalise_path(parts.path)
    return urlunsplit((scheme, _netloc(scheme, host, port, userinfo), path, query, ""))
