"""Shared test configuration: the real Kafka broker fixture is a plugin of its own.

Hypothesis runs without its per-example deadline: speed is measured by the benchmarks in bench/,
never by tests, and a deadline only makes property tests fail on a busy machine.
"""

from hypothesis import settings

settings.register_profile("pipeline", deadline=None)
settings.load_profile("pipeline")

pytest_plugins = ["tests.kafka_fixture"]
