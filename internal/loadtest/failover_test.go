package loadtest

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestRunFailsOverToTheOtherGateway: sockets start spread over two gateways;
// when one dies mid-run its sockets reconnect to the other, resume with
// after_seq and resend their pending messages, and nothing is lost.
func TestRunFailsOverToTheOtherGateway(t *testing.T) {
	f := newFakeServer(t, "secret", "acme")
	gw := f.addGateway(t, 0)
	cfg := testConfig(f)
	cfg.WSURLs = []string{gw.srv.URL, f.srv.URL} // visitors on gw, agents on f
	done := make(chan struct{})
	killed := make(chan int, 1)
	go func() {
		for f.sendCount() < 80 {
			select {
			case <-done:
				killed <- -1
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		dials := gw.dialCount()
		gw.kill()
		killed <- dials
	}()
	rep, _ := runFake(t, cfg)
	close(done)
	if dials := <-killed; dials != 10 {
		t.Fatalf("the killed gateway had %d sockets, want the 10 visitors", dials)
	}
	if !rep.OK || rep.Lost != 0 || rep.Acked != 240 || rep.Delivered != 240 || rep.Duplicates != 0 {
		t.Fatalf("ok=%v failures=%v lost=%d acked=%d delivered=%d dups=%d", rep.OK, rep.Failures, rep.Lost, rep.Acked, rep.Delivered, rep.Duplicates)
	}
	if rep.Reconnects < 10 || rep.Failovers < 10 {
		t.Fatalf("reconnects=%d failovers=%d, want >= 10 each", rep.Reconnects, rep.Failovers)
	}
	if !strings.Contains(rep.Text(), "failovers=") {
		t.Fatalf("text summary lacks failovers: %s", rep.Text())
	}
}

// TestRunWithoutFailoverTargetLoses: the same kill with a single gateway
// URL never recovers (the control for the test above).
func TestRunWithoutFailoverTargetLoses(t *testing.T) {
	f := newFakeServer(t, "secret", "acme")
	gw := f.addGateway(t, 0)
	cfg := testConfig(f)
	cfg.WSURLs = []string{gw.srv.URL}
	cfg.Drain = 500 * time.Millisecond
	go func() {
		for f.sendCount() < 80 {
			time.Sleep(5 * time.Millisecond)
		}
		gw.kill()
	}()
	rep, _ := runFake(t, cfg)
	if rep.OK || rep.Failovers != 0 || rep.Unacked == 0 {
		t.Fatalf("ok=%v failovers=%d unacked=%d: with one gateway down the run must fail", rep.OK, rep.Failovers, rep.Unacked)
	}
}

// TestRunStall: stalled visitor sockets stop reading while their agent
// floods them; the server (here: one with a write deadline) drops them as
// slow consumers, and the other conversations' figures are complete and
// leave the stalled ones out.
func TestRunStall(t *testing.T) {
	f := newFakeServer(t, "secret", "acme")
	f.writeTimeout = 200 * time.Millisecond
	// Small server send buffers: the stalled socket fills them in a fraction
	// of the run whatever the machine's TCP autotuning.
	gw := f.addGateway(t, 8<<10)
	cfg := testConfig(f)
	cfg.WSURLs = []string{gw.srv.URL}
	cfg.Stall, cfg.StallRate = 1, 300
	rep, _ := runFake(t, cfg)
	if !rep.OK || rep.StalledSockets != 1 || rep.Sent != 240 || rep.Delivered != 240 || rep.Lost != 0 {
		t.Fatalf("ok=%v failures=%v stalled=%d sent=%d delivered=%d lost=%d", rep.OK, rep.Failures, rep.StalledSockets, rep.Sent, rep.Delivered, rep.Lost)
	}
	// The drain waits for slots only, so the last flood acks may be missed.
	if rep.StallSent < 300 || rep.StallAcked == 0 || rep.StallAcked > rep.StallSent || rep.StallRefused != 0 {
		t.Fatalf("flood sent=%d acked=%d refused=%d", rep.StallSent, rep.StallAcked, rep.StallRefused)
	}
	f.mu.Lock()
	slow := f.slowClosed["visitor"]
	f.mu.Unlock()
	// Only the stalled visitor stops reading. (Its agent, which receives the
	// echo of its own flood through a small buffer, may be dropped too; the
	// run stays OK because it has no tracked slots.)
	if slow != 1 {
		t.Fatalf("the fake closed %d slow visitor sockets, want the stalled one (did it keep reading?)", slow)
	}
	if !strings.Contains(rep.Text(), "stalled sockets=1") {
		t.Fatalf("text summary: %s", rep.Text())
	}
}

func TestParseWSURLsAndStall(t *testing.T) {
	t.Parallel()
	base := []string{"--url", "http://127.0.0.1:1", "--tenant", "t", "--jwt-secret", "s"}
	cfg, err := ParseFlags(append(base, "--ws-urls", "http://127.0.0.1:2, http://127.0.0.1:3,", "--stall", "2"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.WSURLs) != 2 || cfg.WSURLs[1] != "http://127.0.0.1:3" || cfg.Stall != 2 || cfg.StallRate != StallRateDefault {
		t.Fatalf("cfg = %+v", cfg)
	}
	if b := cfg.wsBases(); len(b) != 2 || b[0].Host != "127.0.0.1:2" {
		t.Fatalf("wsBases = %v", b)
	}
	cfg.WSURLs = nil
	if b := cfg.wsBases(); len(b) != 1 || b[0].Host != "127.0.0.1:1" {
		t.Fatalf("wsBases without --ws-urls = %v", b)
	}
	for _, bad := range [][]string{
		{"--ws-urls", "ws://127.0.0.1:2"},
		{"--stall", "100"}, // conns 200: 100 conversations, none left
		{"--stall", "-1"},
		{"--stall", "1", "--mode", "idle"},
		{"--stall", "1", "--stall-rate", "0"},
	} {
		if _, err := ParseFlags(append(base, bad...), io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
