#!/bin/bash
# The Kafka broker of docker-compose.yml (apache/kafka image, KRaft, one node), reachable only
# inside the compose network and only over SASL_SSL:
#   - INTERNAL (kafka:19092): SASL_SSL, SCRAM-SHA-512, also between the broker and itself
#     (it trusts its own certificate); the controller listens on the container's loopback only.
#   - the broker's certificate is made by the JDK's keytool on first start (for the host name
#     "kafka") into the kafka-tls volume, with its PEM (ca.pem) for clients to trust.
#   - SCRAM users are written into the cluster metadata when the storage is formatted:
#     "admin" (the broker itself and the kafka-topics one-shot) and "pipeline" (the workers).
# Run as `bash compose-broker.sh broker` (the broker) or `bash compose-broker.sh client-config`
# (writes /tmp/client.properties for Kafka's command-line tools, as admin).
# Passwords: letters, digits, '-', '_' and '.' only (they go into JAAS and SCRAM strings);
# the keystore's at least 6 characters (keytool).
set -euo pipefail

TLS=/etc/kafka/tls
PROPS=/tmp/server.properties

client_config() {
  cat > /tmp/client.properties <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD:?}";
ssl.truststore.type=PEM
ssl.truststore.location=${TLS}/ca.pem
PROPERTIES
}

certificate() {
  if [ ! -s "${TLS}/kafka.p12" ] || [ ! -s "${TLS}/ca.pem" ]; then
    rm -f "${TLS}/kafka.p12" "${TLS}/ca.pem"
    keytool -genkeypair -alias kafka -keyalg RSA -keysize 3072 -validity 825 \
      -dname "CN=kafka" -ext "SAN=dns:kafka" \
      -keystore "${TLS}/kafka.p12" -storetype PKCS12 \
      -storepass "${KAFKA_SSL_KEYSTORE_PASSWORD:?}" -keypass "${KAFKA_SSL_KEYSTORE_PASSWORD:?}"
    keytool -exportcert -rfc -alias kafka -file "${TLS}/ca.pem" \
      -keystore "${TLS}/kafka.p12" -storetype PKCS12 -storepass "${KAFKA_SSL_KEYSTORE_PASSWORD:?}"
    chmod 0644 "${TLS}/ca.pem"
  fi
}

broker() {
  certificate
  cat > "${PROPS}" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
controller.listener.names=CONTROLLER
listeners=INTERNAL://:19092,CONTROLLER://localhost:9093
advertised.listeners=INTERNAL://kafka:19092
inter.broker.listener.name=INTERNAL
listener.security.protocol.map=INTERNAL:SASL_SSL,CONTROLLER:PLAINTEXT
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.internal.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD:?}";
listener.name.internal.ssl.keystore.location=${TLS}/kafka.p12
listener.name.internal.ssl.keystore.type=PKCS12
listener.name.internal.ssl.keystore.password=${KAFKA_SSL_KEYSTORE_PASSWORD:?}
listener.name.internal.ssl.key.password=${KAFKA_SSL_KEYSTORE_PASSWORD:?}
listener.name.internal.ssl.truststore.type=PEM
listener.name.internal.ssl.truststore.location=${TLS}/ca.pem
log.dirs=/var/lib/kafka/data
num.partitions=${KAFKA_NUM_PARTITIONS:-6}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=${KAFKA_LOG_RETENTION_HOURS:-168}
PROPERTIES
  chmod 0600 "${PROPS}"
  /opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "${CLUSTER_ID:?}" -c "${PROPS}" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=${KAFKA_ADMIN_PASSWORD:?}]" \
    --add-scram "SCRAM-SHA-512=[name=pipeline,password=${KAFKA_PIPELINE_PASSWORD:?}]"
  client_config
  exec /opt/kafka/bin/kafka-server-start.sh "${PROPS}"
}

case "${1:-broker}" in
  broker) broker ;;
  client-config) client_config ;;
  *) echo "usage: $0 broker|client-config" >&2; exit 2 ;;
esac
