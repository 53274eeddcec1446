#!/usr/bin/env sh
# A self-signed certificate for trying the stack out; use real ones (ACME) in production.
set -eu
cd "$(dirname "$0")"
mkdir -p certs
. ./.env
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=${DOMAIN}" \
  -addext "subjectAltName=DNS:${DOMAIN},DNS:turn.${DOMAIN}" \
  -keyout certs/privkey.pem -out certs/fullchain.pem
