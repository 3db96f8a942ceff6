"""Every Kafka client gets the same connection from the settings: plaintext, TLS, SASL."""

from __future__ import annotations

import ssl

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from chatguard.settings import Settings
from streams import kafka_options
from streams.app import create_app

BROKER = "kafka://k1.example:9093;kafka://k2.example:9093"
CASES = {
    "plaintext": Settings(broker=BROKER),
    "ssl": Settings(broker=BROKER, security_protocol="SSL"),
    "sasl": Settings(
        broker=BROKER,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="worker",
        sasl_password="s3cret",
    ),
    "sasl-ssl": Settings(
        broker=BROKER,
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="worker",
        sasl_password="s3cret",
    ),
}


def test_the_connection_carries_exactly_the_security_the_settings_ask_for() -> None:
    bootstrap = "k1.example:9093,k2.example:9093"
    assert kafka_options.connection(CASES["plaintext"]) == {
        "bootstrap_servers": bootstrap,
        "security_protocol": "PLAINTEXT",
    }
    tls = kafka_options.connection(CASES["ssl"])
    assert set(tls) == {"bootstrap_servers", "security_protocol", "ssl_context"}
    assert isinstance(tls["ssl_context"], ssl.SSLContext)
    assert kafka_options.connection(CASES["sasl"]) == {
        "bootstrap_servers": bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "worker",
        "sasl_plain_password": "s3cret",
    }
    sasl_ssl = kafka_options.connection(CASES["sasl-ssl"])
    assert sasl_ssl["sasl_mechanism"] == "PLAIN"
    assert isinstance(sasl_ssl["ssl_context"], ssl.SSLContext)


@pytest.mark.parametrize("case", CASES)
def test_faust_gets_the_same_security_as_the_plain_clients(case: str) -> None:
    settings = CASES[case]
    connection = kafka_options.connection(settings)
    security = {k: v for k, v in connection.items() if k != "bootstrap_servers"}
    app = create_app(settings)
    # what Faust's aiokafka driver hands the app's own consumer and producer
    faust_auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    assert {k: v for k, v in faust_auth.items() if v is not None} == security
    brokers = [f"{url.host}:{url.port}" for url in app.conf.broker_consumer]
    assert ",".join(brokers) == connection["bootstrap_servers"]
    assert app.conf.broker_session_timeout == kafka_options.SESSION_TIMEOUT_S
    assert app.conf.producer_linger == kafka_options.LINGER_MS / 1000


@pytest.mark.parametrize("case", CASES)
def test_every_client_shares_the_connection_and_accepts_its_options(case: str) -> None:
    settings = CASES[case]
    connection = kafka_options.connection(settings)
    built = {
        "admin": kafka_options.admin(settings),
        "producer": kafka_options.producer(settings, "test"),
        "large record producer": kafka_options.large_record_producer(settings, "test", 2**20),
        "group consumer": kafka_options.group_consumer(settings, "g", "test"),
        "committed reader": kafka_options.committed_reader(settings, "test"),
    }
    for name, options in built.items():
        assert {k: options[k] for k in connection} == connection, name
        assert options["client_id"].startswith(f"{settings.app_id}."), name


async def test_aiokafka_accepts_every_option() -> None:
    """A misspelt or unknown keyword would fail here, not in a worker (nothing connects)."""
    settings = CASES["sasl-ssl"]
    clients = [
        AIOKafkaProducer(**kafka_options.producer(settings, "test")),
        AIOKafkaProducer(**kafka_options.large_record_producer(settings, "test", 2**26)),
        AIOKafkaConsumer(**kafka_options.group_consumer(settings, "g", "test")),
        AIOKafkaConsumer(**kafka_options.committed_reader(settings, "test")),
    ]
    for client in clients:
        await client.stop()
    await AIOKafkaAdminClient(**kafka_options.admin(settings)).close()
