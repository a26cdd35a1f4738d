"""Shared test configuration: the real Kafka broker fixture is a plugin of its own."""

pytest_plugins = ["tests.kafka_fixture"]
