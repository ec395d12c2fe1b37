package main

import (
	"bufio"
	"slices"
	"strings"
	"testing"
	"time"
)

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one-value", ms(7), 99, 7 * time.Millisecond},
		{"median-of-four-is-second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99-of-hundred", hundred, 99, 99 * time.Millisecond},
		{"p90-of-hundred", hundred, 90, 90 * time.Millisecond},
		{"p100-is-max", hundred, 100, 100 * time.Millisecond},
		{"tiny-p-is-min", hundred, 0.001, time.Millisecond},
		{"p99-of-ten-is-max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeSortsACopy(t *testing.T) {
	in := ms(5, 1, 4, 2, 3)
	got := summarize(in)
	want := latencies{P50: 3 * time.Millisecond, P90: 5 * time.Millisecond, P99: 5 * time.Millisecond, Max: 5 * time.Millisecond}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if !slices.Equal(in, ms(5, 1, 4, 2, 3)) {
		t.Errorf("summarize reordered its input: %v", in)
	}
}

func TestErrorCounts(t *testing.T) {
	e := errorCounts{"transport": 1, "400": 3, "503": 2}
	if got, want := e.String(), "400:3 503:2 transport:1"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := e.total(); got != 6 {
		t.Errorf("total = %d, want 6", got)
	}
	if got := (errorCounts{}).String(); got != "0" {
		t.Errorf("empty String = %q, want 0", got)
	}
}

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (node (worker) 1) S 4200 4242 4242 0 -1 4194560 1 0 0 0 1234 567 0 0 20 0 11 0 100 0 0\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := (stat{ppid: 4200, utime: 1234, stime: 567}); st != want {
		t.Errorf("parseStat = %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S a 1 1 0 -1 0 0 0 0 0 b c"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func TestProcCPUOfSelf(t *testing.T) {
	if _, err := procCPU(1 << 30); err == nil {
		t.Error("procCPU of a process that does not exist: no error")
	}
	if _, err := selfCPU(); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
}

func TestDescendants(t *testing.T) {
	children := map[int][]int{1: {10, 20}, 10: {11}, 11: {12}, 30: {31}}
	if got, want := descendants(1, children), []int{1, 10, 20, 11, 12}; !slices.Equal(got, want) {
		t.Errorf("descendants(1) = %v, want %v", got, want)
	}
	if got, want := descendants(99, children), []int{99}; !slices.Equal(got, want) {
		t.Errorf("descendants(99) = %v, want %v", got, want)
	}
}

func TestMeanSign(t *testing.T) {
	a := &signResult{Goroutines: 2, Signatures: 100, PerSec: 1000, CPUPerSig: 2 * time.Millisecond}
	b := &signResult{Goroutines: 2, Signatures: 300, PerSec: 3000, CPUPerSig: 0}
	m := meanSign(a, b)
	if m.PerSec != 2000 || m.Signatures != 400 || m.CPUPerSig != 0 {
		t.Errorf("meanSign = %+v, want 2000/s, 400 signatures, unknown CPU", m)
	}
	if meanSign(nil, b) != b || meanSign(a, nil) != a {
		t.Error("meanSign with one run should return that run")
	}
}

func TestReadReply(t *testing.T) {
	stream := "+OK\r\n" +
		":42\r\n" +
		"$-1\r\n" +
		"*2\r\n$2\r\n17\r\n*3\r\n$5\r\np:f:1\r\n$0\r\n\r\n$8\r\na\r\nb c d\r\n" +
		"-ERR wrong type\r\n"
	r := bufio.NewReader(strings.NewReader(stream))
	for i, want := range []any{"OK", int64(42), nil} {
		got, err := readReply(r)
		if err != nil || got != want {
			t.Fatalf("reply %d = %v, %v; want %v", i, got, err, want)
		}
	}
	scan, err := readReply(r)
	if err != nil {
		t.Fatal(err)
	}
	cursor, keys, err := scanReply(scan)
	if err != nil {
		t.Fatal(err)
	}
	// A bulk string is read by its length, so a CRLF inside a key is kept.
	if cursor != "17" || !slices.Equal(keys, []string{"p:f:1", "", "a\r\nb c d"}) {
		t.Errorf("scan = %q %q", cursor, keys)
	}
	if _, err := readReply(r); err == nil || !strings.Contains(err.Error(), "wrong type") {
		t.Errorf("error reply: got %v", err)
	}
}

func TestDeleteRedisKeysRefusesGlobs(t *testing.T) {
	for _, p := range []string{"", "a*", "x?", "[ab]"} {
		if _, err := deleteRedisKeys("127.0.0.1:1", p); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("prefix %q: got %v, want a refusal before any connection", p, err)
		}
	}
}

func TestServerConfig(t *testing.T) {
	cfg := config{store: "embedded", redisAddr: "127.0.0.1:6379", alg: "ES256", signer: "go"}
	emb := serverConfig("127.0.0.1:5555", "/tmp/d", cfg, "", "sha256:H")
	for _, want := range []string{"issuer: http://127.0.0.1:5555\n", "driver: embedded", "keys: {algorithm: ES256, signer: go}", `"/tmp/d/authserver.db"`, `secret_hash: "sha256:H"`, "id: " + benchLoginClient} {
		if !strings.Contains(emb, want) {
			t.Errorf("embedded config lacks %q:\n%s", want, emb)
		}
	}
	cfg.store = "redis"
	red := serverConfig("127.0.0.1:5555", "/tmp/d", cfg, "authbench-ab:", "sha256:H")
	for _, want := range []string{"driver: redis", `addrs: ["127.0.0.1:6379"]`, `key_prefix: "authbench-ab:"`} {
		if !strings.Contains(red, want) {
			t.Errorf("redis config lacks %q:\n%s", want, red)
		}
	}
}

func TestServerEnv(t *testing.T) {
	got := serverEnv([]string{"PATH=/bin", "AUTHSERVER_STORE_DRIVER=redis", "HOME=/root"}, "KEK")
	want := []string{"PATH=/bin", "HOME=/root", "AUTHSERVER_KEYS_ENCRYPTION_KEY=KEK"}
	if !slices.Equal(got, want) {
		t.Errorf("serverEnv = %q, want %q", got, want)
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                         "-",
		350 * time.Microsecond:    "350µs",
		4440 * time.Microsecond:   "4.44ms",
		190500 * time.Microsecond: "190.5ms",
		1500 * time.Millisecond:   "1.50s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}
