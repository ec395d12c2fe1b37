#!/usr/bin/env bash
# Load-test authserver and node-oidc-provider on this machine in one run,
# and print the comparison (docs/performance.md explains the figures).
#
#   bash bench/compare.sh
#
# Environment:
#   AUTHBENCH_FLAGS       extra authbench flags for every target (e.g. "-d 20s -c 8")
#   ROUNDS                how many times to measure every target (default 1), in
#                         turn (A B C A B C ...), so that a burst of noise from
#                         other processes hits every target alike; the summary
#                         gives the median of the rounds
#   OIDC_PROVIDER_VERSION another oidc-provider version than the pinned one
#   STORES                authserver stores to measure (default "embedded redis";
#                         redis only when 127.0.0.1:6379 answers)
#   SIGNERS               authserver signing backends (default "go openssl";
#                         openssl only where cgo and libssl-dev can build it)
#   SWEEP                 connection counts (e.g. "1 2 4 8 16 32 64"): every
#                         target is measured at each (client_credentials only,
#                         unless SCENARIOS says otherwise), the comparison is
#                         printed per count, and bench/chart draws tokens/s and
#                         p99 against connections into CHART (default
#                         docs/performance-sweep.svg); make chart
#   SCENARIOS             authbench -scenarios for every target
#
# Everything runs on 127.0.0.1; every build and install goes to a temporary
# directory, removed at the end with every process this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a flags <<<"${AUTHBENCH_FLAGS:-}"
work=$(mktemp -d)
node_pid=""
cleanup() {
	if [[ -n "$node_pid" ]]; then
		kill "$node_pid" 2>/dev/null || true
		wait "$node_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "== build" >&2
CGO_ENABLED=0 go build -trimpath -o "$work/authserver-go" ./cmd/authserver
signers=()
for signer in ${SIGNERS:-go openssl}; do
	if [[ "$signer" == openssl ]] && ! CGO_ENABLED=1 go build -tags openssl -trimpath -o "$work/authserver-openssl" ./cmd/authserver; then
		echo "== the OpenSSL build failed (no gcc or libssl-dev?): left out" >&2
		continue
	fi
	signers+=("$signer")
done
go build -o "$work/authbench" ./cmd/authbench
bench/node-oidc-provider/install.sh "$work/node" "${OIDC_PROVIDER_VERSION:-}"

# Node's JIT needs a few seconds before its steady state: every target gets
# the same warm-up, unless AUTHBENCH_FLAGS says otherwise.
common=(-warmup 3s "${flags[@]}")
sweep=(${SWEEP:-})
conns=("${sweep[@]:-default}")
scenarios=${SCENARIOS:-}
if [[ -n "${SWEEP:-}" ]]; then
	scenarios=${scenarios:-client_credentials}
fi
# cflags N: the authbench flags of connection count N ("default": none).
cflags() {
	[[ "$1" == default ]] || echo "-c $1"
	[[ -z "$scenarios" ]] || echo "-scenarios $scenarios"
}
secret=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
results=()
for round in $(seq "${ROUNDS:-1}"); do
	for signer in "${signers[@]}"; do
	for store in ${STORES:-embedded redis}; do
		if [[ "$store" == redis ]] && ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
			echo "== authserver ($store store): skipped, no Redis at 127.0.0.1:6379" >&2
			continue
		fi
		for c in "${conns[@]}"; do
			echo "== round $round: authserver ($store store, $signer signer), connections: $c" >&2
			out="$work/authserver-$signer-$store-$round-c$c.json"
			if "$work/authbench" -start "$work/authserver-$signer" -signer "$signer" -store "$store" -json-out "$out" \
				$(cflags "$c") "${common[@]}"; then
				results+=("$out")
			else
				echo "== authserver ($store store, $signer signer): failed, left out of the comparison" >&2
			fi
			echo
		done
	done
	done

	for workers in 1 2; do
		label="node-oidc-provider, 1 process"
		[[ $workers == 1 ]] || label="node-oidc-provider, cluster of $workers workers"
		port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
		echo "== round $round: $label on 127.0.0.1:$port" >&2
		PORT=$port CLIENT_SECRET=$secret WORKERS=$workers NODE_ENV=production \
			node "$work/node/server.js" >"$work/node-$workers.log" 2>&1 &
		node_pid=$!
		for c in "${conns[@]}"; do
			out="$work/node-$workers-$round-c$c.json"
			"$work/authbench" -url "http://127.0.0.1:$port" -pid "$node_pid" -label "$label" \
				-client-id authbench-svc -client-secret "$secret" \
				-extra-form resource=urn:authbench:api -extra-form scope=bench \
				-scenarios "${scenarios:-client_credentials,jwks}" -json-out "$out" $([[ "$c" == default ]] || echo "-c $c") "${common[@]}"
			results+=("$out")
		done
		kill "$node_pid"
		wait "$node_pid" 2>/dev/null || true
		node_pid=""
		echo
	done
done

for c in "${conns[@]}"; do
	echo "== comparison$([[ "$c" == default ]] || echo ", $c connections")"
	node bench/summarize.mjs $(printf '%s\n' "${results[@]}" | grep -- "-c$c.json\$")
done
if [[ -n "${SWEEP:-}" ]]; then
	chart=${CHART:-docs/performance-sweep.svg}
	go run ./bench/chart -o "$chart" -title "$(nproc) CPUs, $(date -u +%F), ${AUTHBENCH_FLAGS:-default flags}" "${results[@]}"
	echo "== chart: $chart" >&2
fi
