#!/usr/bin/env bash
# Measures the image on this machine, for docs/deploy.md: its size, the
# server's CPU per token and per login inside a container (cmd/authbench,
# client_credentials and password grants, Redis store at REDIS_ADDR), and
# `openssl speed rsa2048` in the same run, as the yardstick of one RS256
# signature. Needs podman, Redis and Go; builds nothing: run `make image`
# first (IMAGE=authserver:latest by default).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-authserver:latest}
REDIS_ADDR=${REDIS_ADDR:-127.0.0.1:6379}
DURATION=${DURATION:-8s}
RUN=(--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --health-interval disable)

tmp=$(mktemp -d)
name=authserver-measure-$$
prefix="authserver-measure-$$:"
cleanup() {
	podman rm -f -v -t 0 "$name" >/dev/null 2>&1 || true
	redis-cli -h "${REDIS_ADDR%:*}" -p "${REDIS_ADDR#*:}" --scan --pattern "${prefix}*" | xargs -r redis-cli -h "${REDIS_ADDR%:*}" -p "${REDIS_ADDR#*:}" del >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

read -r secret hash < <(podman run --rm "${RUN[@]}" "$IMAGE" clients new-secret | paste -sd' ')
cat >"$tmp/clients.yaml" <<YAML
clients:
  - id: bench-svc
    secret_hash: "$hash"
    grants: [client_credentials]
  - id: bench-app
    public: true
    grants: [password, refresh_token]
YAML
chmod 0644 "$tmp/clients.yaml"
openssl rand -base64 32 >"$tmp/kek"
chmod 0644 "$tmp/kek"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
podman run -d --name "$name" --read-only --network host "${RUN[@]}" \
	-v "$tmp/clients.yaml:/etc/authserver/clients.yaml:ro,Z" -v "$tmp/kek:/run/secrets/kek:ro,Z" \
	-e AUTHSERVER_CONFIG=/etc/authserver/clients.yaml -e AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE=/run/secrets/kek \
	-e AUTHSERVER_HTTP_ADDR=127.0.0.1:$port -e AUTHSERVER_ISSUER=http://127.0.0.1:$port \
	-e AUTHSERVER_STORE_DRIVER=redis -e AUTHSERVER_STORE_REDIS_ADDRS="$REDIS_ADDR" \
	-e AUTHSERVER_STORE_REDIS_KEY_PREFIX="$prefix" -e AUTHSERVER_PASSWORDS_LOCKOUT_MAX_FAILURES_PER_IP=1000000 \
	"$IMAGE" >/dev/null
for _ in $(seq 100); do
	podman exec "$name" authserver healthcheck >/dev/null 2>&1 && break
	sleep 0.2
done
echo "bench-password-1" | podman exec -i "$name" authserver users add bench --password-stdin >/dev/null
pid=$(podman inspect -f '{{.State.Pid}}' "$name")

echo "== image $IMAGE: $(podman image inspect -f '{{.Size}}' "$IMAGE") bytes"
podman run --rm "${RUN[@]}" "$IMAGE" version
echo "== authbench against the container (pid $pid), $DURATION per scenario"
go run ./cmd/authbench -url "http://127.0.0.1:$port" -pid "$pid" -d "$DURATION" -sign-d 0 \
	-client-id bench-svc -client-secret "$secret" \
	-login-client-id bench-app -username bench -password bench-password-1 \
	-scenarios client_credentials,password
echo "== server memory: $(grep VmHWM /proc/"$pid"/status)"
echo "== openssl speed rsa2048 (one core), same run"
openssl speed -seconds 5 rsa2048 2>/dev/null | tail -2
