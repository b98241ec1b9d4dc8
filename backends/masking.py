"""Keeping credentials out of everything storeadvise prints or saves.

Secrets reach storeadvise in server addresses (``mongodb://user:pw@host``, ``user:pw@broker:9093``,
``?password=...``), in options whose name says so (``kafka_sasl_password``), and in the options and
environment variables a service declares as secret-bearing (``Service.secret_options``,
``Service.secret_environment``: an S3 service would declare ``AWS_SECRET_ACCESS_KEY``). Client
libraries repeat addresses in their error messages, in forms of their own, so masking an address
where storeadvise formats it is not enough: every text that leaves the process (a run file, a report,
a progress line, a CLI error, the ``backends`` listing) also goes through ``mask_secrets``, which
replaces every secret this process was given wherever it appears.

``mask_uri`` is the one form in which an address may be shown; ``mask_options`` the one form in which
options may be; ``mask_secrets`` the last pass over any text or structure about to be shown or saved.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import unquote

MASK = "***"
MIN_SECRET_CHARS = 4
"""Secrets shorter than this are masked where they stand in an address (``user:***@``), not in free text:
replacing every "abc" in a report would garble it without hiding anything a reader could not guess."""

_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-_]*://"  # with "_": Kafka's SASL_SSL://
# The password runs to the last "@": a password may hold "@" itself.
_SCHEME_USERINFO = re.compile(rf"^(?P<head>{_SCHEME}[^:@/?#]*):(?P<secret>.*)@(?P<rest>[^@]*)$")
_BARE_USERINFO = re.compile(r"^(?P<head>[^:@/?#]*):(?P<secret>.*)@(?P<rest>[^@]*)$")
_SECRET_NAME = r"(?:pass|secret|token|credential|private.?key|api.?key)"
_QUERY_SECRET = re.compile(rf"(?i)([?&;][^=&;#\s]*{_SECRET_NAME}[^=&;#\s]*=)([^&;#\s]*)")
_SECRET_KEY = re.compile(rf"(?i){_SECRET_NAME}")
_USERINFO_IN_TEXT = re.compile(rf"(?P<head>(?<![A-Za-z0-9+.\-_]){_SCHEME}[^\s:@/?#]*):[^\s@/?#]+@")

_given: set[str] = set()
_given_lock = threading.Lock()
T = TypeVar("T")


def mask_uri(uri: str) -> str:
    """``uri`` with its password hidden (``user:***@host``, ``password=***``): the only form in which
    an address may be shown, logged or saved. It takes URIs with a scheme (``mongodb://u:p@h``) and
    bare ``user:password@host:port`` addresses alike; when in doubt it masks too much rather than
    too little."""
    masked = []
    for piece in _pieces(str(uri)):
        match = _userinfo(piece)
        masked.append(f"{match['head']}:{MASK}@{match['rest']}" if match else piece)
    return _QUERY_SECRET.sub(rf"\1{MASK}", ",".join(masked))


def _pieces(address: str) -> list[str]:
    """The addresses in ``address``: a URI is one (its hosts may be a list), bare ``host:port`` addresses
    are separated by commas (a Kafka bootstrap list)."""
    return [address] if "://" in address else address.split(",")


def _userinfo(piece: str) -> re.Match[str] | None:
    return (_SCHEME_USERINFO if "://" in piece else _BARE_USERINFO).match(piece)


def is_secret_name(name: str) -> bool:
    """Whether an option or variable name says it holds a password, secret, token or key."""
    return bool(_SECRET_KEY.search(name))


def _in_address(address: str) -> set[str]:
    """The secrets an address carries: its password and its secret-named query values, as written
    and percent-decoded (a client library shows the decoded form)."""
    text = str(address)
    found = {m["secret"] for piece in _pieces(text) if (m := _userinfo(piece))}
    found |= {m.group(2) for m in _QUERY_SECRET.finditer(text)}
    return found | {unquote(s) for s in found}


def secrets_given(options: Mapping[str, Any] | None = None) -> set[str]:
    """Every secret in ``options`` and in the environment variables of the declared services: passwords
    in addresses, values of secret-named or declared secret options and variables."""
    from storeadvise.backends.services import declared_services

    options = options or {}
    found: set[str] = set()
    for service in declared_services().values():
        for value in (options.get(service.address_option), os.environ.get(service.env_var)):
            if value:
                found |= _in_address(value)
        found |= {str(options[name]) for name in service.secret_options if options.get(name)}
        found |= {os.environ[name] for name in service.secret_environment if os.environ.get(name)}
    for key, value in options.items():
        if value is None or value == "":
            continue
        found |= {str(value)} if is_secret_name(key) else _in_address(str(value))
    return {secret for secret in found if len(secret) >= MIN_SECRET_CHARS}


def remember_secrets(options: Mapping[str, Any] | None = None) -> None:
    """Add the secrets of ``options`` (and of the environment) to those ``mask_secrets`` hides from now on."""
    found = secrets_given(options)
    with _given_lock:
        _given.update(found)


def _mask_text(text: str) -> str:
    with _given_lock:
        known = sorted(_given | secrets_given(), key=len, reverse=True)  # a secret inside another: longest first
    for secret in known:
        text = text.replace(secret, MASK)
    text = _USERINFO_IN_TEXT.sub(rf"\g<head>:{MASK}@", text)
    return _QUERY_SECRET.sub(rf"\1{MASK}", text)


def mask_secrets(value: T) -> T:
    """``value`` with every secret this process was given masked, wherever it appears: a text, or the
    texts inside a dict, list, tuple or dataclass (a dataclass is masked in place, so a ``Run`` stays
    the object its callers hold). Passwords in URIs are masked even when nobody gave them to us."""
    if isinstance(value, str):
        return _mask_text(value)  # type: ignore[return-value]
    if isinstance(value, dict):
        return {key: mask_secrets(item) for key, item in value.items()}  # type: ignore[return-value]
    if type(value) in (list, tuple):
        return type(value)(mask_secrets(item) for item in value)  # type: ignore[return-value,call-arg]
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and not value.__dataclass_params__.frozen:
        for f in dataclasses.fields(value):
            setattr(value, f.name, mask_secrets(getattr(value, f.name)))
    return value


def mask_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` as they may be printed or saved: every declared service's address masked, options
    whose name says they hold a password, secret, token or key and those a service declares secret
    left out, and any other secret masked."""
    from storeadvise.backends.services import declared_services

    services = declared_services().values()
    addresses = {service.address_option for service in services}
    secret = {name for service in services for name in service.secret_options}
    return {
        key: mask_uri(value) if key in addresses and value else mask_secrets(value)
        for key, value in options.items()
        if not (is_secret_name(key) or key in secret)
    }
