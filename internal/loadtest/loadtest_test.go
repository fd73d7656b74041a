package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestSamplePercentiles(t *testing.T) {
	t.Parallel()
	seq := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = time.Duration(n-i) * time.Millisecond // reverse order: Percentile must sort
		}
		return out
	}
	tests := []struct {
		name string
		vals []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", []time.Duration{7}, 99.9, 7},
		{"p50 of 1..100", seq(100), 50, 50 * time.Millisecond},
		{"p90 of 1..100", seq(100), 90, 90 * time.Millisecond},
		{"p99 of 1..100", seq(100), 99, 99 * time.Millisecond},
		{"p99.9 of 1..100 is the max", seq(100), 99.9, 100 * time.Millisecond},
		{"p99.9 of 1..1000", seq(1000), 99.9, 999 * time.Millisecond},
		{"p100 is max", seq(1000), 100, 1000 * time.Millisecond},
		{"nearest rank rounds up", []time.Duration{1, 2, 3}, 50, 2},
		{"tiny p is the min", seq(10), 0.001, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s Sample
			for _, v := range tt.vals {
				s.Add(v)
			}
			if got := s.Percentile(tt.p); got != tt.want {
				t.Fatalf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSampleSummarizeAndReset(t *testing.T) {
	t.Parallel()
	var s Sample
	for i := 1; i <= 1000; i++ {
		s.Add(time.Duration(i) * time.Millisecond)
	}
	sum := s.Summarize()
	want := Summary{Count: 1000, MeanMS: 500.5, P50MS: 500, P90MS: 900, P95MS: 950, P99MS: 990, P999MS: 999, MaxMS: 1000}
	if sum != want {
		t.Fatalf("Summarize = %+v, want %+v", sum, want)
	}
	old := s.Reset()
	if s.Len() != 0 || old.Len() != 1000 {
		t.Fatalf("after Reset: len %d, old %d", s.Len(), old.Len())
	}
	if (&Sample{}).Summarize() != (Summary{}) {
		t.Fatal("empty summary not zero")
	}
}

func TestScheduleAt(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	s := Schedule{Start: start, Rate: 400, N: 10}
	for i := range int64(10) {
		if got, want := s.At(i), start.Add(time.Duration(i)*2500*time.Microsecond); !got.Equal(want) {
			t.Fatalf("At(%d) = %v, want %v", i, got, want)
		}
	}
	if SlotsFor(200, 1500*time.Millisecond) != 300 {
		t.Fatal("SlotsFor(200, 1.5s) != 300")
	}
}

// Open loop: a send that blocks does not move later slots; they keep their
// scheduled times and come out late, in a burst.
func TestScheduleRunOpenLoop(t *testing.T) {
	t.Parallel()
	s := Schedule{Start: time.Now().Add(10 * time.Millisecond), Rate: 1000, N: 100} // one slot per ms, 100 ms
	type emitted struct {
		i      int64
		at, on time.Time
	}
	var got []emitted
	n := s.Run(context.Background(), func(i int64, at time.Time) {
		got = append(got, emitted{i, at, time.Now()})
		if i == 10 {
			time.Sleep(40 * time.Millisecond) // a stalled send
		}
	})
	if n != 100 || len(got) != 100 {
		t.Fatalf("emitted %d (%d), want 100", n, len(got))
	}
	late := 0
	for k, e := range got {
		if e.i != int64(k) {
			t.Fatalf("slot %d emitted as %d: out of order", k, e.i)
		}
		if !e.at.Equal(s.At(e.i)) {
			t.Fatalf("slot %d at %v, want %v: the schedule moved", k, e.at, s.At(e.i))
		}
		if e.on.Before(e.at) {
			t.Fatalf("slot %d emitted %v before its time", k, e.at.Sub(e.on))
		}
		if e.on.Sub(e.at) > 20*time.Millisecond {
			late++
		}
	}
	// Slots 11..~40 were due during the stall and went out late.
	if late < 15 {
		t.Fatalf("only %d slots late after a 40 ms stall: the schedule waited for the send", late)
	}
	// The whole run still ends near the planned end, not 40 ms later
	// (generous bound for a loaded machine).
	if end := got[99].on.Sub(s.At(99)); end > 30*time.Millisecond {
		t.Logf("last slot %v late (machine busy?)", end)
	}
}

func TestScheduleRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	s := Schedule{Start: time.Now(), Rate: 100, N: 1000}
	n := s.Run(ctx, func(i int64, _ time.Time) {
		if i == 4 {
			cancel()
		}
	})
	if n != 5 {
		t.Fatalf("emitted %d after cancel at slot 4, want 5", n)
	}
}

func TestSeqTracker(t *testing.T) {
	t.Parallel()
	var tr seqTracker
	tr.reset(3) // seqs 1..3 predate the socket
	for _, s := range []int64{2, 4, 6, 5, 9} {
		tr.add(s)
	}
	if tr.low != 6 || tr.max != 9 || tr.holes() != 2 { // 7 and 8 missing
		t.Fatalf("low=%d max=%d holes=%d, want 6 9 2", tr.low, tr.max, tr.holes())
	}
	if tr.add(5) || tr.add(9) {
		t.Fatal("a seen seq was reported new")
	}
	tr.add(8)
	tr.add(7)
	if tr.low != 9 || tr.holes() != 0 || len(tr.above) != 0 {
		t.Fatalf("after filling: low=%d holes=%d above=%v", tr.low, tr.holes(), tr.above)
	}
}

func TestReadProcOwnPID(t *testing.T) {
	before, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.RSSBytes < 1<<20 {
		t.Fatalf("RSS %d bytes: implausibly small for a Go test binary", before.RSSBytes)
	}
	// Burn CPU until /proc shows at least 50 ms more (utime has 10 ms
	// resolution); on a loaded machine that takes longer than 50 ms of wall
	// time, so the bound is on CPU, with a generous wall-clock cap.
	x := 0
	var after ProcSample
	for deadline := time.Now().Add(20 * time.Second); ; {
		for i := range 1_000_000 {
			x += i
		}
		if after, err = ReadProc(os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if after.CPUSeconds-before.CPUSeconds >= 0.05 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU grew by only %.3fs in 20 s of busy loop", after.CPUSeconds-before.CPUSeconds)
		}
	}
	_ = x
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("ReadProc of a missing pid succeeded")
	}
}

func TestParseProc(t *testing.T) {
	t.Parallel()
	cpu, err := parseStat([]byte("42 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0 100 1000 200\n"))
	if err != nil || cpu != 4.0 {
		t.Fatalf("parseStat = %v, %v; want 4.0 (400 ticks)", cpu, err)
	}
	for _, bad := range []string{"no paren", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 a b"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
	rss, err := parseStatusRSS([]byte("Name:\tchorus\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\n"))
	if err != nil || rss != 2048*1024 {
		t.Fatalf("parseStatusRSS = %d, %v", rss, err)
	}
	for _, bad := range []string{"Name: x\n", "VmRSS: 12 MB\n", "VmRSS: x kB\n"} {
		if _, err := parseStatusRSS([]byte(bad)); err == nil {
			t.Errorf("parseStatusRSS(%q) succeeded", bad)
		}
	}
}

func TestSourceIPs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n    int
		host string
		want []string
	}{
		{3, "127.0.0.1:8080", []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{2, "localhost:80", []string{"127.0.0.1", "127.0.0.2"}},
		{1, "127.0.0.1:8080", nil},
		{4, "10.0.0.1:8080", nil},
		{4, "[::1]:8080", nil},
		{4, "example.com", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, ip := range SourceIPs(tt.n, tt.host) {
			got = append(got, ip.String())
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("SourceIPs(%d, %q) = %v, want %v", tt.n, tt.host, got, tt.want)
		}
	}
	if n := len(SourceIPs(1000, "127.0.0.1")); n != 254 {
		t.Errorf("SourceIPs(1000) gave %d addresses, want 254", n)
	}
}

// Connection i leaves from 127.0.0.(i mod n + 1), as the listener sees it.
func TestDialersSpreadSourceAddresses(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	seen := make(chan string, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			seen <- host
			c.Close()
		}
	}()
	d := newDialers(SourceIPs(4, ln.Addr().String()), time.Second)
	for i := range 8 {
		c, err := d.netDial(i)(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		want := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}[i%4]
		if got := <-seen; got != want {
			t.Fatalf("connection %d came from %s, want %s", i, got, want)
		}
	}
}

func TestMintToken(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tok, err := MintToken([]byte("s3cret"), Claims{Sub: "a1", TenantID: "t1", Roles: []string{"agent"}, IAT: now.Unix(), EXP: now.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		jwt.RegisteredClaims
		TenantID string   `json:"tenant_id"`
		Roles    []string `json:"roles"`
	}
	parsed, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return []byte("s3cret"), nil }, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || !parsed.Valid {
		t.Fatalf("golang-jwt rejects the minted token: %v", err)
	}
	if c.Subject != "a1" || c.TenantID != "t1" || len(c.Roles) != 1 || c.Roles[0] != "agent" {
		t.Fatalf("claims = %+v", c)
	}
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte("other"), nil }); err == nil {
		t.Fatal("token verifies with the wrong secret")
	}
	if tokenTenant(tok) != "t1" || tokenClaim(tok, "sub") != "a1" || tokenTenant("x.y") != "" || tokenTenant("a.!!.c") != "" {
		t.Fatal("tokenTenant/tokenClaim")
	}
	if _, err := MintToken([]byte("s"), Claims{IAT: 0, EXP: int64(7 * time.Hour / time.Second)}); err == nil {
		t.Fatal("a 7 h token was minted")
	}
	if _, err := MintToken(nil, Claims{IAT: 0, EXP: 1}); err == nil {
		t.Fatal("a token without secret was minted")
	}
}

// Loss and duplicate accounting, driven frame by frame through handle.
func TestAccounting(t *testing.T) {
	t.Parallel()
	r := &runner{cfg: Config{BodySize: 32}, logger: slog.New(slog.DiscardHandler), runID: "r1", prefix: "lt-r1-", errCodes: map[string]int64{}}
	cvA, cvB := &conv{id: "A"}, &conv{id: "B"}
	socks := []*sock{{run: r, cv: cvA, side: sideVisitor}, {run: r, cv: cvA, side: sideAgent}, {run: r, cv: cvB, side: sideVisitor}, {run: r, cv: cvB, side: sideAgent}}
	p := &plan{socks: socks, recs: make([]record, 8), sched: Schedule{Start: time.Now().Add(-time.Second), Rate: 100, N: 8}, warm: 1}
	r.plan.Store(p)
	now := time.Now()
	msg := func(to *sock, typ string, slot int64, seq int64, sender string) {
		body, _ := json.Marshal(map[string]any{"type": typ, "message": map[string]any{
			"seq": seq, "sender_type": sender, "client_msg_id": r.prefix + itoa(slot), "body": r.prefix + itoa(slot) + " xx"}})
		r.handle(to, body, now)
	}
	// slot 0: visitor A → agent A, warmup; acked and delivered.
	msg(socks[0], "message.ack", 0, 1, "visitor")
	msg(socks[1], "message", 0, 1, "visitor")
	// slot 1: agent A → visitor A; delivered twice with the same seq (a duplicate frame), echoed to the sender.
	msg(socks[1], "message.ack", 1, 2, "agent")
	msg(socks[0], "message", 1, 2, "agent")
	msg(socks[0], "message", 1, 2, "agent")
	msg(socks[1], "message", 1, 2, "agent")
	// slot 2: visitor B → agent B; acked, never delivered: lost.
	msg(socks[2], "message.ack", 2, 1, "visitor")
	// slot 3: agent B; delivered under seq 2, the retry acked under seq 3: a real duplicate.
	msg(socks[2], "message", 3, 2, "agent")
	msg(socks[3], "message.ack", 3, 3, "agent")
	msg(socks[2], "message", 3, 3, "agent")
	// slot 4: visitor A; refused with an error frame.
	r.handle(socks[0], []byte(`{"type":"error","code":"rate_limited","client_msg_id":"lt-r1-4"}`), now)
	// slot 5: agent A; delivered to the wrong conversation.
	msg(socks[2], "message", 5, 9, "agent")
	// slot 6: never acked, never delivered.
	// A foreign message and junk are ignored.
	r.handle(socks[0], []byte(`{"type":"message","message":{"seq":3,"sender_type":"system","body":"Agent joined"}}`), now)
	r.handle(socks[0], []byte(`not json`), now)

	lost, unacked := lossCounts(p.recs[:7])
	checks := []struct {
		name      string
		got, want int64
	}{
		{"acked", r.acked.Load(), 4},
		{"delivered", r.delivered.Load(), 3},
		{"duplicate frames", r.dupFrames.Load(), 1},
		{"duplicates", r.dups.Load(), 1},
		{"refused", r.refused.Load(), 1},
		{"misrouted", r.misrouted.Load(), 1},
		{"lost", lost, 1},
		{"unacked", unacked, 2}, // slot 5 (misrouted, never acked) and slot 6
		{"latency samples (warmup excluded)", int64(r.lat.Len()), 2},
		{"gaps on visitor A (seq 3 seen, 1..3 all seen)", socks[0].seen.holes(), 0},
		{"gaps on agent B (seqs 1 and 2 never seen)", socks[3].seen.holes(), 2},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if r.errCodes["rate_limited"] != 1 {
		t.Errorf("error codes = %v", r.errCodes)
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func TestParseFlagsAndValidate(t *testing.T) {
	t.Parallel()
	cfg, err := ParseFlags([]string{"--url", "http://127.0.0.1:1", "--tenant", "t", "--jwt-secret", "s", "--conns", "20", "--rate", "50"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Conns != 20 || cfg.Rate != 50 || cfg.Mode != ModeChat || cfg.SourceIPs != SourceIPsDefault || cfg.agents() != 2 {
		t.Fatalf("cfg = %+v agents=%d", cfg, cfg.agents())
	}
	cfg.Agents = 50
	if cfg.agents() != 10 {
		t.Fatalf("agents capped at conversations: %d", cfg.agents())
	}
	admin, _ := MintToken([]byte("x"), Claims{Sub: "adm", TenantID: "tt", Roles: []string{"admin"}, IAT: 1, EXP: 2})
	cfg, err = ParseFlags([]string{"--admin-token", admin, "--agents", "7"}, io.Discard)
	if err != nil || cfg.tenant() != "tt" || cfg.agents() != 1 {
		t.Fatalf("admin-token only: tenant=%q agents=%d err=%v", cfg.tenant(), cfg.agents(), err)
	}
	var out bytes.Buffer
	_, err = ParseFlags([]string{"--url", "ftp://x", "--conns", "3", "--mode", "burst", "--body-size", "5"}, &out)
	for _, want := range []string{"--url", "--admin-token or --jwt-secret", "--tenant", "--conns", "--mode", "--body-size"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
	if _, err := ParseFlags([]string{"--tenant", "t", "--jwt-secret", "s", "extra"}, io.Discard); err == nil {
		t.Error("a stray argument was accepted")
	}
	if _, err := ParseFlags([]string{"--nope"}, io.Discard); err == nil {
		t.Error("an unknown flag was accepted")
	}
}

// testConfig is a short chat run against a fake server.
func testConfig(f *fakeServer) Config {
	return Config{
		URL: f.srv.URL, Tenant: f.tenant, JWTSecret: string(f.secret), Conns: 20, Agents: 3,
		Rate: 200, Duration: time.Second, Warmup: 200 * time.Millisecond, Drain: 3 * time.Second,
		SourceIPs: 4, ConnectRate: 500, Mode: ModeChat, BodySize: 40, Writers: 4,
		HandshakeTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, ProgressInterval: 300 * time.Millisecond,
	}
}

func runFake(t *testing.T, cfg Config) (*Report, string) {
	t.Helper()
	var progress syncBuffer
	rep, err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler), &progress)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	return rep, progress.String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunEndToEnd(t *testing.T) {
	f := newFakeServer(t, "secret", "acme")
	f.limit429 = 3
	f.dupFrameEvery = 50
	cfg := testConfig(f)
	cfg.APIProbeRate = 20
	cfg.PID = os.Getpid() // the fake server runs in this process
	rep, progress := runFake(t, cfg)

	if !rep.OK {
		t.Fatalf("run failed: %v\n%s", rep.Failures, rep.Text())
	}
	if rep.Conversations != 10 || rep.Sockets != 20 || rep.ConnectErrors != 0 {
		t.Fatalf("conversations=%d sockets=%d connect_errors=%d", rep.Conversations, rep.Sockets, rep.ConnectErrors)
	}
	if rep.Sent != 240 || rep.MeasuredSent != 200 || rep.Acked != 240 || rep.Delivered != 240 {
		t.Fatalf("sent=%d measured=%d acked=%d delivered=%d, want 240 200 240 240", rep.Sent, rep.MeasuredSent, rep.Acked, rep.Delivered)
	}
	if rep.Lost != 0 || rep.Duplicates != 0 || rep.Gaps != 0 || rep.Misrouted != 0 {
		t.Fatalf("lost=%d dups=%d gaps=%d misrouted=%d", rep.Lost, rep.Duplicates, rep.Gaps, rep.Misrouted)
	}
	if rep.DuplicateFrames < 4 {
		t.Fatalf("duplicate frames = %d, want about 240/50", rep.DuplicateFrames)
	}
	if rep.Latency.Count != 200 || rep.Latency.P50MS <= 0 || rep.Latency.MaxMS < rep.Latency.P99MS {
		t.Fatalf("latency = %+v", rep.Latency)
	}
	if rep.API == nil || rep.API.Count+int(rep.API.Errors) != 20 || rep.API.Errors != 0 || rep.API.P50MS <= 0 {
		t.Fatalf("api = %+v", rep.API)
	}
	if s := rep.Server; s == nil || s.RSSBeforeBytes <= 0 || s.RSSMaxBytes < s.RSSBeforeBytes || s.ReadError != "" {
		t.Fatalf("server = %+v", rep.Server)
	}
	if got := f.distinctIPs(); got != 4 {
		t.Fatalf("the server saw %d source addresses, want 4", got)
	}
	if !strings.Contains(progress, "delivered=") || !strings.Contains(progress, "[ramp") && rep.SetupS > 0.3 {
		t.Fatalf("no progress lines:\n%s", progress)
	}

	// The JSON summary round-trips.
	path := filepath.Join(t.TempDir(), "out.json")
	var stdout bytes.Buffer
	if err := rep.Write(path, &stdout, true); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.Delivered != 240 || !back.OK || !bytes.Equal(b, stdout.Bytes()) {
		t.Fatalf("JSON round trip: %v %+v", err, back)
	}
	if !strings.Contains(rep.Text(), "OK") {
		t.Fatalf("text summary: %s", rep.Text())
	}
}

func TestRunDetectsLoss(t *testing.T) {
	f := newFakeServer(t, "secret", "acme")
	f.loseEvery = 40
	cfg := testConfig(f)
	cfg.Drain = 300 * time.Millisecond
	rep, _ := runFake(t, cfg)
	if rep.OK || rep.Lost != 6 || rep.Gaps == 0 {
		t.Fatalf("ok=%v lost=%d gaps=%d, want a failure with 240/40=6 lost and gaps", rep.OK, rep.Lost, rep.Gaps)
	}
	if !strings.Contains(rep.Text(), "FAIL") {
		t.Fatalf("text summary: %s", rep.Text())
	}
}

func TestRunReconnectsAndRetries(t *testing.T) {
	f := newFakeServer(t, "secret", "acme")
	f.dropEvery = 30
	rep, _ := runFake(t, testConfig(f))
	if !rep.OK || rep.Reconnects < 8 || rep.Lost != 0 || rep.Acked != 240 || rep.Delivered != 240 {
		t.Fatalf("ok=%v failures=%v reconnects=%d lost=%d acked=%d delivered=%d", rep.OK, rep.Failures, rep.Reconnects, rep.Lost, rep.Acked, rep.Delivered)
	}
}

func TestRunDetectsRealDuplicates(t *testing.T) {
	f := newFakeServer(t, "secret", "acme")
	f.dropEvery = 30
	f.newSeqOnRetry = true
	rep, _ := runFake(t, testConfig(f))
	if rep.OK || rep.Duplicates < 8 {
		t.Fatalf("ok=%v duplicates=%d: a retry stored under a new seq must fail the run", rep.OK, rep.Duplicates)
	}
}

func TestRunCountsRefusals(t *testing.T) {
	f := newFakeServer(t, "secret", "acme")
	f.refuseEvery = 60
	rep, _ := runFake(t, testConfig(f))
	if rep.OK || rep.Refused != 4 || rep.ErrorCodes["rate_limited"] != 4 || rep.Unacked != 0 {
		t.Fatalf("ok=%v refused=%d codes=%v unacked=%d", rep.OK, rep.Refused, rep.ErrorCodes, rep.Unacked)
	}
}

func TestRunIdle(t *testing.T) {
	f := newFakeServer(t, "secret", "acme")
	cfg := testConfig(f)
	cfg.Mode, cfg.Settle, cfg.PID = ModeIdle, 400*time.Millisecond, os.Getpid()
	rep, progress := runFake(t, cfg)
	if !rep.OK || rep.Sockets != 20 || rep.Server == nil || rep.Server.RSSAfterBytes <= 0 || rep.Sent != 0 {
		t.Fatalf("ok=%v sockets=%d server=%+v sent=%d", rep.OK, rep.Sockets, rep.Server, rep.Sent)
	}
	if want := (rep.Server.RSSAfterBytes - rep.Server.RSSBeforeBytes) / 20; rep.Server.RSSPerConnBytes != want {
		t.Fatalf("per conn = %d, want %d", rep.Server.RSSPerConnBytes, want)
	}
	if !strings.Contains(progress, "[idle") {
		t.Fatalf("no idle progress:\n%s", progress)
	}
}

func TestRunSetupFailures(t *testing.T) {
	f := newFakeServer(t, "secret", "acme")
	cfg := testConfig(f)
	cfg.WidgetKey = "wrong"
	if _, err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard); err == nil || !strings.Contains(err.Error(), "none succeeded") {
		t.Fatalf("unknown widget key: err = %v", err)
	}
	cfg = testConfig(f)
	cfg.JWTSecret = "other" // the channel cannot be created
	if _, err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard); err == nil || !strings.Contains(err.Error(), "create channel") {
		t.Fatalf("bad secret: err = %v", err)
	}
	cfg = testConfig(f)
	cfg.Conns = 3
	if _, err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard); err == nil {
		t.Fatal("invalid config accepted")
	}
}
