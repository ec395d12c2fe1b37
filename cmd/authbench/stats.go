package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value that at least p% of the values
// do not exceed. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// latencies summarises the measured latencies of one scenario.
type latencies struct {
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

func summarize(d []time.Duration) latencies {
	s := slices.Clone(d)
	slices.Sort(s)
	l := latencies{P50: percentile(s, 50), P90: percentile(s, 90), P99: percentile(s, 99)}
	if len(s) > 0 {
		l.Max = s[len(s)-1]
	}
	return l
}

// errorCounts counts failed requests by kind: an HTTP status ("400"),
// "transport" (no response) or "body" (a 200 without the expected field).
type errorCounts map[string]int

func (e errorCounts) total() int {
	n := 0
	for _, v := range e {
		n += v
	}
	return n
}

// String lists the counts by kind, in a stable order: "400:3 transport:1".
func (e errorCounts) String() string {
	if len(e) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(e)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, e[k]))
	}
	return strings.Join(parts, " ")
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc: 100 on every
// mainstream Linux architecture (it is fixed by the kernel ABI, whatever
// the kernel's internal HZ).
const clockTicks = 100

// procCPU returns the user+system CPU time of process pid and of all its
// descendants (a Node cluster's workers are children of its primary),
// read from /proc.
func procCPU(pid int) (time.Duration, error) {
	pids, err := withDescendants(pid)
	if err != nil {
		return 0, err
	}
	var ticks int64
	for _, p := range pids {
		st, err := readStat(p)
		if err != nil {
			if p == pid {
				return 0, err
			}
			continue // a child that exited meanwhile
		}
		ticks += st.utime + st.stime
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// selfCPU returns the CPU time of this process alone: a server the harness
// started is its child, and must not count as the harness's.
func selfCPU() (time.Duration, error) {
	st, err := readStat(os.Getpid())
	if err != nil {
		return 0, err
	}
	return time.Duration(st.utime+st.stime) * time.Second / clockTicks, nil
}

// stat is what we read of /proc/PID/stat.
type stat struct {
	ppid         int
	utime, stime int64
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return stat{}, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	return parseStat(b)
}

// parseStat parses the content of /proc/PID/stat. The command name (field
// 2) is in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStat(b []byte) (stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, errors.New("parse /proc stat: no command name")
	}
	// After ")": state(3) ppid(4) ... utime(14) stime(15).
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return stat{}, errors.New("parse /proc stat: too few fields")
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseInt(f[11], 10, 64)
	st, err3 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return stat{}, fmt.Errorf("parse /proc stat: %w", err)
	}
	return stat{ppid: ppid, utime: ut, stime: st}, nil
}

// withDescendants returns pid followed by every live descendant of it.
func withDescendants(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(p)
		if err != nil {
			continue
		}
		children[st.ppid] = append(children[st.ppid], p)
	}
	return descendants(pid, children), nil
}

// descendants walks the ppid tree breadth-first from pid.
func descendants(pid int, children map[int][]int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// loadAvg returns the 1, 5 and 15 minute load averages of the machine, or
// "" where /proc/loadavg is unreadable.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
