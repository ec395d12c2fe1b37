// Print the comparison of authbench JSON reports (authbench -json-out), one
// row per target: the client_credentials figures, their ratios to the raw
// signing baseline measured in the same report, and the JWKS rate. With
// several reports of one target (compare.sh ROUNDS=n), each figure is the
// median of the rounds, and the ratios show their range.
//
//   node bench/summarize.mjs A.json B.json ...
import { readFileSync } from 'node:fs';
import process from 'node:process';

const median = (xs) => {
  const s = xs.filter((x) => x !== undefined && x !== null).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (ns) => (ns ? `${(ns / 1e6).toFixed(2)}ms` : '-');
const fixed = (x, d) => (x ? x.toFixed(d) : '-');
const range = (xs, d) => {
  const s = xs.filter(Boolean);
  if (s.length < 2) return fixed(median(s), d);
  return `${fixed(median(s), d)} (${fixed(Math.min(...s), d)}–${fixed(Math.max(...s), d)})`;
};

const byTarget = new Map();
for (const file of process.argv.slice(2)) {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  if (!byTarget.has(r.target)) byTarget.set(r.target, []);
  byTarget.get(r.target).push(r);
}
if (byTarget.size === 0) {
  console.error('summarize.mjs: no report');
  process.exit(2);
}

const rows = [...byTarget].map(([target, reports]) => {
  const cc = reports.map((r) => r.scenarios.find((s) => s.name === 'client_credentials') || {});
  const jwks = reports.map((r) => r.scenarios.find((s) => s.name === 'jwks') || {});
  const errors = cc.reduce((n, s) => n + Object.values(s.errors || {}).reduce((a, b) => a + b, 0), 0);
  return {
    target,
    rounds: reports.length,
    'tokens/s': fixed(median(cc.map((s) => s.ok_per_sec)), 0),
    p50: ms(median(cc.map((s) => s.latency_ns?.p50_ns))),
    p99: ms(median(cc.map((s) => s.latency_ns?.p99_ns))),
    errors,
    'CPU/token': ms(median(cc.map((s) => s.server_cpu_per_ok_ns))),
    'raw sig/s': fixed(median(cc.map((s) => s.raw_sign?.per_sec)), 0),
    'tokens/s ÷ sig/s': range(cc.map((s) => s.ok_per_sec_over_raw_sign_per_sec), 2),
    'CPU/token ÷ CPU/sig': range(cc.map((s) => s.server_cpu_per_ok_over_raw_cpu_per_sign), 2),
    'jwks req/s': fixed(median(jwks.map((s) => s.ok_per_sec)), 0),
    'jwks CPU/req': ms(median(jwks.map((s) => s.server_cpu_per_ok_ns))),
  };
});

const cols = Object.keys(rows[0]);
const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(width[i]) : String(c).padStart(width[i]))).join('  ');
console.log('client_credentials (RS256 JWT access tokens), same machine, same run:');
console.log(line(cols));
for (const r of rows) {
  console.log(line(cols.map((c) => r[c])));
}
const loads = [...byTarget.values()].flat().map((r) => Number((r.loadavg_before || '').split(' ')[0])).filter((x) => !Number.isNaN(x));
console.log(`\n1-minute load average at the start of the reports: ${Math.min(...loads)}–${Math.max(...loads)} (on ${[...byTarget.values()][0][0].cpus} CPUs).`);
console.log('Compare the ratio columns, not the absolute figures: each report measured its own raw');
console.log('RSA-2048 signing rate (Go crypto/rsa) just before and after its client_credentials run.');
console.log('Under load from other processes, trust CPU/token ÷ CPU/sig over tokens/s ÷ sig/s.');
