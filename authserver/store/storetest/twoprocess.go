package storetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// childEnv names the environment variable that marks the child process of
// RunTwoProcessRedeem and carries the shared directory.
const childEnv = "AUTHSERVER_STORETEST_TWO_PROCESS_DIR"

// The child prints these lines on stdout; anything else there is the test
// framework's and is ignored.
const (
	readyLine     = "storetest-two-process: ready"
	outcomePrefix = "storetest-two-process: outcome "
)

const (
	twoProcessFamilies = 200
	twoProcessTimeout  = 2 * time.Minute
)

// twoProcessPlan is what the parent tells the child, through a file in the
// shared directory.
type twoProcessPlan struct {
	Now      time.Time
	Families []twoProcessFamily
}

type twoProcessFamily struct {
	ID    string
	Grace time.Duration
}

// roundLead is how far ahead the parent sets the instant at which both
// processes start a round's redemption: long enough for the child to read
// the line that names it.
const roundLead = 2 * time.Millisecond

// roundResult is what a process did in one round: the outcome and the
// wall-clock interval of its Redeem call (Unix ns; both processes read the
// same system clock).
type roundResult struct {
	Outcome    string
	Start, End int64
}

// RunTwoProcessRedeem proves that Redeem is atomic across OS processes. It
// opens the store, creates many families and re-executes the test binary
// to run the calling test again as a child process. Both processes open
// the store with open(dir), where dir is a directory unique to this run
// and the same in both. Then, family by family, the parent releases the
// child (a line on its stdin naming the family and an instant just ahead)
// and both redeem the family's current token at that instant. For every
// family exactly one process must see Rotated; the other sees Reused
// (grace 0) or Replayed (a grace). And the redemptions must have run at
// the same time: in some rounds the two calls' intervals must intersect,
// or the test proved nothing about concurrency.
//
// In the child, RunTwoProcessRedeem plays the child's part and returns, so
// the calling test must do nothing else. See the package documentation
// for an example.
func RunTwoProcessRedeem(t *testing.T, open func(dir string) (store.Store, error)) {
	if dir := os.Getenv(childEnv); dir != "" {
		runTwoProcessChild(t, dir, open)
		return
	}
	ctx := context.Background()
	dir := t.TempDir()
	s, err := open(dir)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })

	base := liveBase()
	plan := twoProcessPlan{Now: base.Add(time.Second)}
	for i := range twoProcessFamilies {
		f := newFamily(fmt.Sprintf("fam-%03d", i), "user-1", base)
		mustCreateFamily(t, s, f)
		grace := time.Duration(0)
		if i%2 == 1 {
			grace = 10 * time.Second
		}
		plan.Families = append(plan.Families, twoProcessFamily{ID: f.ID, Grace: grace})
	}
	writePlan(t, dir, plan)

	child := startChild(t, dir)
	var parentWins, childWins, overlapped int
	for i, pf := range plan.Families {
		at := time.Now().Add(roundLead)
		if _, err := fmt.Fprintf(child.stdin, "%d %d\n", i, at.UnixNano()); err != nil {
			t.Fatalf("release child: %v\n%s", err, child.report())
		}
		parent := redeemAt(ctx, s, plan, i, "parent", at)
		theirs := child.outcome(t, i)
		if max(parent.Start, theirs.Start) < min(parent.End, theirs.End) {
			overlapped++
		}
		mine := parent.Outcome
		want := store.Reused
		if pf.Grace > 0 {
			want = store.Replayed
		}
		switch {
		case mine == store.Rotated.String() && theirs.Outcome == want.String():
			parentWins++
		case theirs.Outcome == store.Rotated.String() && mine == want.String():
			childWins++
		default:
			t.Errorf("family %s (grace %v): parent %s, child %s; want one rotated and one %v",
				pf.ID, pf.Grace, mine, theirs.Outcome, want)
		}
	}
	child.wait(t)
	t.Logf("rotations won: parent %d, child %d; redemptions overlapped in %d of %d rounds",
		parentWins, childWins, overlapped, len(plan.Families))
	if overlapped == 0 {
		t.Errorf("the two processes' redemptions never overlapped in time: no race was run")
	}
}

// redeemAt waits for the instant at, redeems family i of plan as
// redeemOne does, and returns the outcome with the call's interval.
func redeemAt(ctx context.Context, s store.Store, plan twoProcessPlan, i int, tag string, at time.Time) roundResult {
	// The instant is the condition awaited: both processes start at it.
	time.Sleep(time.Until(at))
	start := time.Now()
	out := redeemOne(ctx, s, plan, i, tag)
	return roundResult{Outcome: out, Start: start.UnixNano(), End: time.Now().UnixNano()}
}

// redeemOne redeems generation 0 of family i of plan and returns the
// outcome, or the error, as a string.
func redeemOne(ctx context.Context, s store.Store, plan twoProcessPlan, i int, tag string) string {
	pf := plan.Families[i]
	f := newFamily(pf.ID, "user-1", plan.Now)
	got, err := s.Redeem(ctx, rotation(f, plan.Now, pf.Grace, tag))
	if err != nil {
		return "error: " + err.Error()
	}
	return got.Outcome.String()
}

func writePlan(t *testing.T, dir string, plan twoProcessPlan) {
	t.Helper()
	b, err := json.Marshal(plan)
	if err != nil {
		t.Fatalf("encode plan: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plan.json"), b, 0o600); err != nil {
		t.Fatalf("write plan: %v", err)
	}
}

// runTwoProcessChild is the child's part: for each line "i at" on stdin
// it redeems family i of the plan at the instant at (Unix ns), and
// reports each roundResult on stdout.
func runTwoProcessChild(t *testing.T, dir string, open func(dir string) (store.Store, error)) {
	ctx := context.Background()
	b, err := os.ReadFile(filepath.Join(dir, "plan.json"))
	if err != nil {
		t.Fatalf("read plan: %v", err)
	}
	var plan twoProcessPlan
	if err := json.Unmarshal(b, &plan); err != nil {
		t.Fatalf("decode plan: %v", err)
	}
	s, err := open(dir)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	fmt.Println(readyLine)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		index, at, _ := strings.Cut(in.Text(), " ")
		i, err := strconv.Atoi(index)
		if err != nil || i < 0 || i >= len(plan.Families) {
			t.Fatalf("bad family index %q from the parent", in.Text())
		}
		ns, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			t.Fatalf("bad instant %q from the parent", in.Text())
		}
		out, err := json.Marshal(redeemAt(ctx, s, plan, i, "child", time.Unix(0, ns)))
		if err != nil {
			t.Fatalf("encode outcome: %v", err)
		}
		fmt.Printf("%s%d %s\n", outcomePrefix, i, out)
	}
	if err := in.Err(); err != nil {
		t.Fatalf("read from the parent: %v", err)
	}
}

// childProcess is the running child of RunTwoProcessRedeem.
type childProcess struct {
	cmd    *exec.Cmd
	ctx    context.Context // ends at twoProcessTimeout
	stdin  io.WriteCloser
	lines  chan string // the child's stdout, line by line; closed at EOF
	stderr *bytes.Buffer
	output *bytes.Buffer // every stdout line read, for failure reports
}

// startChild runs the calling test again in a child process and waits until
// it has opened the store.
func startChild(t *testing.T, dir string) *childProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), twoProcessTimeout)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+runPattern(t.Name()), "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	c := &childProcess{cmd: cmd, ctx: ctx, lines: make(chan string), stderr: new(bytes.Buffer), output: new(bytes.Buffer)}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatalf("child stdin: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("child stdout: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	// On success wait has already reaped the child; on failure this kills
	// and reaps it.
	t.Cleanup(func() {
		cancel()
		c.stdin.Close()
		cmd.Wait()
	})
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	if _, ok := c.awaitLine(func(l string) bool { return l == readyLine }); !ok {
		t.Fatalf("child did not get ready:\n%s", c.report())
	}
	return c
}

// awaitLine returns the first line of the child's stdout for which match
// is true, or false once stdout ends or the child's time is up.
func (c *childProcess) awaitLine(match func(string) bool) (string, bool) {
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return "", false
			}
			fmt.Fprintln(c.output, l)
			if match(l) {
				return l, true
			}
		case <-c.ctx.Done():
			return "", false
		}
	}
}

// outcome returns what the child reports for family i.
func (c *childProcess) outcome(t *testing.T, i int) roundResult {
	t.Helper()
	prefix := fmt.Sprintf("%s%d ", outcomePrefix, i)
	line, ok := c.awaitLine(func(l string) bool { return strings.HasPrefix(l, prefix) })
	if !ok {
		t.Fatalf("child reported no outcome for family %d:\n%s", i, c.report())
	}
	var out roundResult
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, prefix)), &out); err != nil {
		t.Fatalf("decode child outcome: %v", err)
	}
	return out
}

// wait ends the child's input and requires it to exit successfully.
func (c *childProcess) wait(t *testing.T) {
	t.Helper()
	c.stdin.Close()
	for range c.lines {
		// Drain stdout so that Wait may return.
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child failed: %v\n%s", err, c.report())
	}
}

func (c *childProcess) report() string {
	return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", c.output, c.stderr)
}

// runPattern returns the -test.run pattern that selects exactly the test
// or subtest named name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}
