package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the whole result of one run.
type report struct {
	Target      string           `json:"target"`
	URL         string           `json:"url"`
	Date        time.Time        `json:"date"`
	CPUs        int              `json:"cpus"`
	GOMAXPROCS  int              `json:"gomaxprocs"`
	Concurrency int              `json:"concurrency"`
	Duration    time.Duration    `json:"duration_ns"`
	ServerPID   int              `json:"server_pid,omitempty"`
	LoadBefore  string           `json:"loadavg_before,omitempty"` // /proc/loadavg: how busy the machine was
	LoadAfter   string           `json:"loadavg_after,omitempty"`
	RawSign     []signResult     `json:"raw_rsa2048_sign_runs,omitempty"`
	Scenarios   []scenarioResult `json:"scenarios"`
}

// signRatio is tokens/s ÷ raw signatures/s: the share of the machine's
// bare signing capacity that reaches clients as tokens. 0 when unknown.
func (r *report) signRatio(s scenarioResult) float64 {
	if !s.Tokens || s.RawSign == nil || s.RawSign.PerSec == 0 {
		return 0
	}
	return s.OKPerSec / s.RawSign.PerSec
}

// cpuRatio is the server's CPU per token ÷ the CPU of one raw signature:
// how many signatures' worth of CPU a token costs. 0 when unknown.
func (r *report) cpuRatio(s scenarioResult) float64 {
	if !s.Tokens || s.RawSign == nil || s.RawSign.CPUPerSig == 0 || s.ServerCPUPerOK == 0 {
		return 0
	}
	return float64(s.ServerCPUPerOK) / float64(s.RawSign.CPUPerSig)
}

// writeJSON prints the report with the two ratios added per scenario.
func (r *report) writeJSON(w io.Writer) error {
	type scenario struct {
		scenarioResult
		SignRatio float64 `json:"ok_per_sec_over_raw_sign_per_sec,omitempty"`
		CPURatio  float64 `json:"server_cpu_per_ok_over_raw_cpu_per_sign,omitempty"`
	}
	out := struct {
		*report
		Scenarios []scenario `json:"scenarios"`
	}{report: r}
	for _, s := range r.Scenarios {
		out.Scenarios = append(out.Scenarios, scenario{s, r.signRatio(s), r.cpuRatio(s)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeTable prints the report for people.
func (r *report) writeTable(w io.Writer) error {
	if r.Target == r.URL {
		fmt.Fprintf(w, "target:   %s\n", r.URL)
	} else {
		fmt.Fprintf(w, "target:   %s  %s\n", r.Target, r.URL)
	}
	fmt.Fprintf(w, "run:      %s, %d CPUs, GOMAXPROCS %d, %d clients, %s per scenario\n",
		r.Date.Format(time.RFC3339), r.CPUs, r.GOMAXPROCS, r.Concurrency, r.Duration)
	if r.LoadBefore != "" {
		fmt.Fprintf(w, "load avg: %s before, %s after (other processes on the machine skew every absolute figure)\n", r.LoadBefore, r.LoadAfter)
	}
	if len(r.RawSign) > 0 {
		var rates []string
		for _, s := range r.RawSign {
			rates = append(rates, fmt.Sprintf("%.0f/s (%s CPU each)", s.PerSec, fmtDur(s.CPUPerSig)))
		}
		fmt.Fprintf(w, "raw sign: RSA-2048 PKCS#1 v1.5, Go crypto/rsa, %d goroutines, before and after each token scenario: %s\n",
			r.RawSign[0].Goroutines, strings.Join(rates, ", "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\treq/s\tok/s\tp50\tp90\tp99\terrors\tserver CPU/ok\traw sig/s\tok/s ÷ raw sig/s\tCPU/ok ÷ CPU/sig\tclient CPU/ok\t")
	var skipped []string
	for _, s := range r.Scenarios {
		if s.Skipped != "" {
			fmt.Fprintf(tw, "%s\tskipped\t\t\t\t\t\t\t\t\t\t\t\t\n", s.Name)
			skipped = append(skipped, s.Name+": "+s.Skipped)
			continue
		}
		errs := s.Errors.String()
		if s.Relogins > 0 {
			errs += fmt.Sprintf(" (relogins %d)", s.Relogins)
		}
		raw := "-"
		if s.RawSign != nil {
			raw = fmt.Sprintf("%.0f", s.RawSign.PerSec)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			s.Name, s.Requests, s.ReqPerSec, s.OKPerSec,
			fmtDur(s.Latency.P50), fmtDur(s.Latency.P90), fmtDur(s.Latency.P99),
			errs, fmtDur(s.ServerCPUPerOK), raw, fmtRatio(r.signRatio(s)), fmtRatio(r.cpuRatio(s)), fmtDur(perOK(s.ClientCPU, s.OK)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, why := range skipped {
		fmt.Fprintf(w, "skipped %s\n", why)
	}
	return nil
}

// fmtDur prints a duration with three significant digits, "-" for 0.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func fmtRatio(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}

func perOK(d time.Duration, ok int) time.Duration {
	if ok == 0 {
		return 0
	}
	return d / time.Duration(ok)
}
