#!/bin/bash
# ACLs of the compose deployment, applied once by the kafka-acls service as the admin principal.
# The broker denies whatever is not allowed here (allow.everyone.if.no.acl.found=false).
# tests/unit/test_deployment.py reads the "allow" lines below and checks them against
# citycredit/topics.py: pollers write only sightings and source-health; the worker (Faust
# agents and the desk's API, which runs in the worker) writes its topics and is the only
# principal besides admin that writes responses and records.
set -euo pipefail

KAFKA_BIN=${KAFKA_BIN:-/opt/kafka/bin}
SECRETS=${SECRETS:-/run/secrets}
CLIENT=${CLIENT:-/tmp/acl-client.properties}
# shellcheck source=compose-admin-client.sh
. "$(dirname "$0")/compose-admin-client.sh"
admin_client "$CLIENT"

APP_ID=${CITYCREDIT_APP_ID:-citycredit}

# allow PRINCIPAL OPERATIONS RESOURCE...   (operations comma-separated)
allow() {
  local principal=$1 operations=$2; shift 2
  local ops=()
  IFS=',' read -ra list <<< "$operations"
  for op in "${list[@]}"; do ops+=(--operation "$op"); done
  $KAFKA_BIN/kafka-acls.sh --bootstrap-server "${KAFKA_BOOTSTRAP:-kafka:9094}" --command-config "$CLIENT" \
    --add --allow-principal "User:$principal" "${ops[@]}" "$@" > /dev/null
}

# pollers: publish observations and source health (idempotent producer), nothing else
allow pollers Write,Describe --topic sightings --topic source-health
allow pollers IdempotentWrite --cluster

# worker: reads what the pollers write ...
allow worker Read,Describe --topic sightings --topic source-health
# ... and reads and writes its own topics; responses and records: the API (in the worker) and detection
allow worker Read,Write,Describe --topic classified --topic items --topic alerts --topic responses --topic records --topic city-inputs --topic city-index --topic subscriptions --topic deliveries --topic trend-events --topic deadletter
# its table changelogs and Faust's internal topics are named after the app id; it creates them
allow worker Create,Read,Write,Describe,DescribeConfigs --resource-pattern-type prefixed --topic "$APP_ID-"
allow worker Read,Describe --resource-pattern-type prefixed --group "$APP_ID"
allow worker IdempotentWrite,Describe --cluster
echo "ACLs applied"
