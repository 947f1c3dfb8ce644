#!/bin/bash
# Kafka in docker-compose.yml: SASL_SSL (SCRAM-SHA-512 over TLS) with ACLs, one node in KRaft.
#
# Writes server.properties from the KAFKA_* environment (KAFKA_FOO_BAR -> foo.bar; "__" -> "_",
# "___" -> "-"), adds what comes from the secrets (keystore password, the broker's own SCRAM
# login), formats the storage once with every principal's SCRAM credential (Kafka 3.9 keeps
# them in the metadata log, so the listener never runs without its users) and starts the broker.
# Secrets (ops/make_kafka_certs.py): /run/secrets/kafka_keystore, kafka_keystore_password,
# kafka_ca, kafka_<principal>_password.
set -euo pipefail

# KAFKA_BIN, SECRETS and CONF are overridable so tests/integration/test_compose_kafka.py can run
# this script with the local broker's jars
KAFKA_BIN=${KAFKA_BIN:-/opt/kafka/bin}
SECRETS=${SECRETS:-/run/secrets}
CONF=${CONF:-/tmp/server.properties}
ADMIN_CLIENT=${ADMIN_CLIENT:-/tmp/admin-client.properties}   # for the healthcheck; inside this container only
secret() { tr -d '\n' < "$SECRETS/$1"; }
# shellcheck source=compose-admin-client.sh
. "$(dirname "$0")/compose-admin-client.sh"

: > "$CONF"
while IFS='=' read -r name value; do
  case "$name" in
    KAFKA_HEAP_OPTS|KAFKA_OPTS|KAFKA_JVM_PERFORMANCE_OPTS|KAFKA_LOG4J_OPTS|KAFKA_PRINCIPALS|KAFKA_BIN) continue ;;
    KAFKA_*) ;;
    *) continue ;;
  esac
  key=$(printf '%s' "${name#KAFKA_}" | tr '[:upper:]' '[:lower:]' | sed -e 's/___/-/g' -e 's/__/\x01/g' -e 's/_/./g' -e 's/\x01/_/g')
  printf '%s=%s\n' "$key" "$value" >> "$CONF"
done < <(env)

ks_password=$(secret kafka_keystore_password)
admin_password=$(secret kafka_admin_password)
cat >> "$CONF" <<PROPS
ssl.keystore.password=$ks_password
ssl.key.password=$ks_password
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_password";
PROPS
chmod 600 "$CONF"

admin_client "$ADMIN_CLIENT"

log_dir=$(sed -n 's/^log\.dirs=//p' "$CONF")
if [ ! -f "$log_dir/meta.properties" ]; then
  scram=()
  for principal in $KAFKA_PRINCIPALS; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=$principal,password=$(secret "kafka_${principal}_password")]")
  done
  # one id in 64 starts with "-", which the storage tool takes for an option (see citycredit/broker.py)
  cluster_id=-
  while [[ $cluster_id == -* ]]; do cluster_id=$("$KAFKA_BIN/kafka-storage.sh" random-uuid); done
  "$KAFKA_BIN/kafka-storage.sh" format --cluster-id="$cluster_id" -c "$CONF" --ignore-formatted "${scram[@]}" > /dev/null
fi
exec "$KAFKA_BIN/kafka-server-start.sh" "$CONF"
