#!/bin/bash
# Sourced by compose-start.sh and compose-acls.sh: admin_client FILE writes the client config of
# the admin principal (SASL_SSL, SCRAM-SHA-512, the CA from the secrets), mode 0600.
admin_client() {
  (umask 077; cat > "$1" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(tr -d '\n' < "$SECRETS/kafka_admin_password")";
ssl.truststore.type=PEM
ssl.truststore.location=$SECRETS/kafka_ca
PROPS
  )
}
