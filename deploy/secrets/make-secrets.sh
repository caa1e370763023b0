#!/bin/sh
# Write the production stack's secrets once (docker-compose.yml reads them; docs/operations.md):
#   telecare.env  TELECARE_DATABASE_URL (with the database password) and TELECARE_MQTT_PASSWORD (ingest's
#                 accounts), read by every telecare service through env_file, never written in the compose file;
#   postgres.env  POSTGRES_PASSWORD for the TimescaleDB container (the same password as in the URL);
#   grafana.env   GF_SECURITY_ADMIN_PASSWORD;
#   certs/        ca.crt, server.crt, server.key for mosquitto's TLS listener (8883), a private CA here:
#                 replace them with your own (server.crt's name must be what gateways connect to: MQTT_HOSTNAME).
# Existing files are kept (re-running never rotates a password under a running stack); delete one to renew it.
# Usage: deploy/secrets/make-secrets.sh [DIR]   (default: this script's directory)
set -eu
umask 077
DIR=${1:-$(dirname "$0")}
HOST=${MQTT_HOSTNAME:-localhost}
mkdir -p "$DIR/certs"

secret() { openssl rand -hex 24; }  # hex: safe inside a URL and an env file without quoting

if [ ! -f "$DIR/postgres.env" ] || [ ! -f "$DIR/telecare.env" ]; then
    pg=$(secret)
    printf 'POSTGRES_PASSWORD=%s\n' "$pg" > "$DIR/postgres.env"
    {
        printf 'TELECARE_DATABASE_URL=postgresql://telecare:%s@timescaledb:5432/telecare\n' "$pg"
        printf 'TELECARE_MQTT_PASSWORD=%s\n' "$(secret)"
        printf '# With TELECARE_TELEPHONY=twilio (set in docker-compose.yml), also:\n'
        printf '# TELECARE_TWILIO_ACCOUNT_SID=\n# TELECARE_TWILIO_AUTH_TOKEN=\n# TELECARE_TWILIO_FROM_NUMBER=\n'
    } > "$DIR/telecare.env"
fi
[ -f "$DIR/grafana.env" ] || printf 'GF_SECURITY_ADMIN_PASSWORD=%s\n' "$(secret)" > "$DIR/grafana.env"

if [ ! -f "$DIR/certs/server.crt" ]; then
    openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=telecare MQTT CA" \
        -keyout "$DIR/certs/ca.key" -out "$DIR/certs/ca.crt" 2>/dev/null
    openssl req -newkey rsa:3072 -nodes -subj "/CN=$HOST" \
        -keyout "$DIR/certs/server.key" -out "$DIR/certs/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$HOST" > "$DIR/certs/server.ext"
    openssl x509 -req -in "$DIR/certs/server.csr" -CA "$DIR/certs/ca.crt" -CAkey "$DIR/certs/ca.key" \
        -CAcreateserial -days 825 -extfile "$DIR/certs/server.ext" -out "$DIR/certs/server.crt" 2>/dev/null
    rm -f "$DIR/certs/server.csr" "$DIR/certs/server.ext"
    # The compose job `mqtt-auth` copies ca.crt, server.crt and server.key into the broker's config volume,
    # owned by mosquitto's uid (1883) with mode 0600; ca.key stays here, with whoever issues gateway trust.
    chmod 644 "$DIR/certs/ca.crt" "$DIR/certs/server.crt"
fi
echo "secrets in $DIR: telecare.env postgres.env grafana.env certs/"
