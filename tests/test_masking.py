"""Secrets never leave the process: every declared service's address, secret options and secret
environment variables, present and future, are masked in every text storeadvise shows or saves."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from storeadvise.backends import masking
from storeadvise.backends import services as services_module
from storeadvise.backends.masking import mask_options, mask_secrets, mask_uri, secrets_given
from storeadvise.backends.services import Launch, Service, ServiceStatus, declared_services

SECRET = "hunter2-Secret"


def _future(name: str, option: str, scheme: str, **declared: tuple[str, ...]) -> Service:
    """A service no backend declares yet, shaped like the ones the project plans."""

    def launch(scratch: Path, port: int) -> Launch:
        return Launch(["true"], f"{scheme}127.0.0.1:{port}")

    return Service(
        name=name, product=name.capitalize(), embedded_product=f"embedded {name}", address_option=option,
        metavar="URI", client="json", installed=lambda: False, launch=launch, ready=lambda address: False,
        version=lambda: None, scratch_names=lambda address, prefix: [], **declared,
    )  # fmt: skip


FUTURE = [
    _future("postgres", "postgres_uri", "postgresql://"),
    _future("redis", "redis_url", "redis://"),
    _future("s3", "s3_endpoint", "http://", secret_options=("s3_secret_key",),
            secret_environment=("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")),
]  # fmt: skip


def _with_credentials(address: str, secret: str) -> str:
    """``address`` with a user and password, the way a user writes them for this kind of address."""
    if "://" in address:
        scheme, rest = address.split("://", 1)
        return f"{scheme}://alice:{secret}@{rest}"
    return f"alice:{secret}@{address}"


@pytest.fixture
def every_service(monkeypatch: pytest.MonkeyPatch) -> list[Service]:
    """The declared services plus future ones, declared the same way."""
    known = {**declared_services(), **{s.name: s for s in FUTURE}}
    monkeypatch.setattr(services_module, "declared_services", lambda: known)
    monkeypatch.setattr(masking, "_given", set())
    for service in known.values():
        monkeypatch.delenv(service.env_var, raising=False)
    return list(known.values())


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


def test_every_service_present_and_future_masks_its_secrets(
    every_service: list[Service], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options: dict[str, str] = {}
    secrets: list[str] = []
    for n, service in enumerate(every_service):
        plain = service.launch(tmp_path / service.name, 9000 + n).address
        by_option, by_env = f"{SECRET}-{service.name}-opt", f"{SECRET}-{service.name}-env"
        options[service.address_option] = _with_credentials(plain, by_option)
        monkeypatch.setenv(service.env_var, _with_credentials(plain, by_env) + "?password=" + by_env + "-q")
        secrets += [by_option, by_env, by_env + "-q"]
        for name in service.secret_options:
            options[name] = f"{SECRET}-{name}"
            secrets.append(options[name])
        for name in service.secret_environment:
            monkeypatch.setenv(name, f"{SECRET}-{name}")
            secrets.append(f"{SECRET}-{name}")
    options["kafka_sasl_plain_password"] = f"{SECRET}-sasl"
    secrets.append(options["kafka_sasl_plain_password"])

    assert set(secrets) <= secrets_given(options)
    shown = mask_options(options)
    assert not _leaks(repr(shown), secrets)
    for service in every_service:
        assert shown[service.address_option].startswith(mask_uri(options[service.address_option])[:8])
        assert ":***@" in shown[service.address_option]
        status = ServiceStatus(service, address=options[service.address_option])
        assert not _leaks(repr(status.to_dict()) + service.availability(status, options)[1], secrets)

    # What a client library says, in its own forms (the password decoded, the address cut up),
    # and whatever else reaches a run file, a report or the terminal.
    masking.remember_secrets(options)
    said = [f"Unable to bootstrap from {address}, password {address.split(':')[-1]}" for address in options.values()]
    said += [f"auth failed for {secret} (env)" for secret in secrets]

    @dataclasses.dataclass
    class Entry:
        reason: str
        extra: dict

    entry = Entry(reason=" ".join(said), extra={"notes": said, "nested": (said, [said])})
    assert mask_secrets(entry) is entry
    assert not _leaks(repr(entry), secrets)
    assert "***" in entry.reason


def test_a_password_in_a_uri_is_masked_even_when_nobody_gave_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(masking, "_given", set())
    text = "could not connect to postgresql://bob:s3cr%40t@db:5432/x?sslpassword=abc123&x=1 (timeout)"
    assert mask_secrets(text) == "could not connect to postgresql://bob:***@db:5432/x?sslpassword=***&x=1 (timeout)"


def test_short_values_are_masked_in_addresses_but_not_across_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(masking, "_given", set())
    masking.remember_secrets({"mongo_uri": "mongodb://u:abc@h/"})
    assert mask_uri("mongodb://u:abc@h/") == "mongodb://u:***@h/"
    assert mask_secrets("abc rows") == "abc rows"


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("mongodb://bob:hunter2@db.example:27017/x", "mongodb://bob:***@db.example:27017/x"),
        ("mongodb+srv://bob:p%40ss@cluster.example/?retryWrites=true", "mongodb+srv://bob:***@cluster.example/?retryWrites=true"),
        ("mongodb://a:1,b:2/db?authSource=admin&password=hunter2&w=1", "mongodb://a:1,b:2/db?authSource=admin&password=***&w=1"),
        ("mongodb://h/?tlsCertificateKeyFilePassword=hunter2", "mongodb://h/?tlsCertificateKeyFilePassword=***"),
        ("mongodb://bob@host:1/", "mongodb://bob@host:1/"),
        ("127.0.0.1:9092", "127.0.0.1:9092"),
        ("alice:hunter2@broker.example:9093", "alice:***@broker.example:9093"),
        ("alice:hunter2@b1:9093,b2:9093", "alice:***@b1:9093,b2:9093"),
        ("SASL_SSL://alice:hunter2@b1:9093", "SASL_SSL://alice:***@b1:9093"),
        ("alice:hun@hunter2@b1:9093", "alice:***@b1:9093"),
        ("mongodb://alice:hun@hunter2@h1,h2/db", "mongodb://alice:***@h1,h2/db"),
        ("b1:9092,alice:hunter2@b2:9092", "b1:9092,alice:***@b2:9092"),
    ],
)  # fmt: skip
def test_mask_uri_hides_passwords(uri: str, masked: str) -> None:
    assert mask_uri(uri) == masked
    assert "hunter2" not in mask_uri(uri)


def test_mask_options_masks_every_declared_address_and_drops_secrets() -> None:
    options = {
        "mongo_uri": "mongodb://bob:hunter2@db:27017/",
        "kafka_bootstrap": "alice:hunter2@broker:9093",
        "kafka_sasl_password": "hunter2",
        "kafka_partitions": 3,
    }
    assert mask_options(options) == {
        "mongo_uri": "mongodb://bob:***@db:27017/",
        "kafka_bootstrap": "alice:***@broker:9093",
        "kafka_partitions": 3,
    }


def test_the_backends_listing_never_shows_a_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from storeadvise.cli import cli

    for n, service in enumerate(declared_services().values()):
        monkeypatch.setenv(service.env_var, f"{'mongodb://' if n % 2 else ''}alice:{SECRET}@127.0.0.1:1/")
    for fmt in ("table", "json"):
        result = CliRunner().invoke(cli, ["backends", "--format", fmt])
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output and "alice:***@127.0.0.1:1" in result.output


def test_a_password_in_a_scheme_with_an_underscore_is_masked_in_free_text(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "connecting to SASL_PLAINTEXT://u:hunter2@host:1 failed"
    assert mask_secrets(text) == "connecting to SASL_PLAINTEXT://u:***@host:1 failed"
