"""What the compose tests share: a value for every secret docker-compose.yml requires."""

from __future__ import annotations

# Every secret the stack needs: each must be required (${NAME:?...}) and have no default.
SECRETS = {
    "PIPELINE_PSEUDONYMISATION_KEY": "3f9a1c7e5b2d48a06e1f9c3b7d5a2e84",
    "CLICKHOUSE_PIPELINE_PASSWORD": "ch-pipeline-Pw1",
    "CLICKHOUSE_GRAFANA_PASSWORD": "ch-grafana-Pw2",
    "GRAFANA_ADMIN_PASSWORD": "grafana-admin-Pw3",
    "KAFKA_ADMIN_PASSWORD": "kafka-admin-Pw4",
    "KAFKA_PIPELINE_PASSWORD": "kafka-pipeline-Pw5",
    "KAFKA_SSL_KEYSTORE_PASSWORD": "kafka-keystore-Pw6",
}
