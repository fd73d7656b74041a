package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Report is the JSON summary of one run.
type Report struct {
	Mode   string `json:"mode"`
	URL    string `json:"url"`
	Tenant string `json:"tenant"`
	RunID  string `json:"run_id"`

	ConnsRequested int     `json:"conns_requested"`
	Conversations  int     `json:"conversations"`
	Sockets        int     `json:"sockets"`
	Agents         int     `json:"agents"`
	Rate           float64 `json:"rate"`
	DurationS      float64 `json:"duration_s"`
	WarmupS        float64 `json:"warmup_s"`
	SetupS         float64 `json:"setup_s"`
	DrainS         float64 `json:"drain_s"`

	// ConnectErrors counts conversations that could not be set up, by stage
	// in SetupErrors (session, accept, websocket).
	ConnectErrors   int64            `json:"connect_errors"`
	SetupErrors     map[string]int64 `json:"setup_errors,omitempty"`
	FirstSetupError string           `json:"first_setup_error,omitempty"`

	Sent         int64   `json:"sent"`
	MeasuredSent int64   `json:"measured_sent"`
	AchievedRate float64 `json:"achieved_rate"`
	Acked        int64   `json:"acked"`
	Delivered    int64   `json:"delivered"`
	// Lost: acknowledged but never received by the other party after drain.
	Lost int64 `json:"lost"`
	// Unacked: sent (and retried on reconnect) but never acknowledged nor refused.
	Unacked int64 `json:"unacked"`
	// Refused: answered with an error frame; by code in ErrorCodes.
	Refused    int64            `json:"refused"`
	ErrorCodes map[string]int64 `json:"error_codes,omitempty"`
	// DuplicateFrames: the same message delivered again with the same seq
	// (allowed by the protocol). Duplicates: one client_msg_id with two
	// different seqs (an idempotency failure).
	DuplicateFrames int64 `json:"duplicate_frames"`
	Duplicates      int64 `json:"duplicates"`
	// Gaps: seqs a socket never saw below the highest one it saw.
	Gaps int64 `json:"gaps"`
	// Misrouted: a message of this run delivered to the wrong conversation or side.
	Misrouted       int64 `json:"misrouted"`
	Reconnects      int64 `json:"reconnects"`
	ReconnectErrors int64 `json:"reconnect_errors"`
	WriteErrors     int64 `json:"write_errors"`
	// Failovers: reconnect attempts moved to the next --ws-urls gateway.
	Failovers int64 `json:"failovers"`

	// Stalled conversations (--stall): their visitor socket stopped reading;
	// they are not in the figures above. StallSent messages were written to
	// the server for them, StallAcked acknowledged, StallRefused refused.
	StalledSockets int   `json:"stalled_sockets,omitempty"`
	StallSent      int64 `json:"stall_sent,omitempty"`
	StallAcked     int64 `json:"stall_acked,omitempty"`
	StallRefused   int64 `json:"stall_refused,omitempty"`

	// Latency is send (scheduled time) → received by the other party, for
	// messages scheduled after warmup.
	Latency    Summary       `json:"latency"`
	AckLatency Summary       `json:"ack_latency"`
	API        *APIReport    `json:"api,omitempty"`
	Server     *ServerReport `json:"server,omitempty"`

	OK       bool     `json:"ok"`
	Failures []string `json:"failures,omitempty"`
}

// APIReport is the REST probe's result.
type APIReport struct {
	Rate   float64 `json:"rate"`
	Count  int     `json:"count"`
	Errors int64   `json:"errors"`
	P50MS  float64 `json:"p50_ms"`
	P95MS  float64 `json:"p95_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// ServerReport is the server process's resource use read from /proc.
type ServerReport struct {
	PID int `json:"pid"`
	// RSS before any connection, once all are connected, at the end, and the
	// highest reading (sampled every progress interval).
	RSSBeforeBytes    int64 `json:"rss_before_bytes"`
	RSSConnectedBytes int64 `json:"rss_connected_bytes"`
	RSSAfterBytes     int64 `json:"rss_after_bytes"`
	RSSMaxBytes       int64 `json:"rss_max_bytes"`
	// RSSPerConnBytes: (RSS after settling − RSS before) / sockets (idle mode).
	RSSPerConnBytes int64 `json:"rss_per_conn_bytes,omitempty"`
	// CPUSeconds: CPU used from the end of warmup to the end of drain.
	CPUSeconds          float64 `json:"cpu_seconds"`
	CPUMicrosPerMessage float64 `json:"cpu_us_per_message,omitempty"`
	ReadError           string  `json:"read_error,omitempty"`
}

// judge fills OK and Failures: any loss, unacknowledged or refused send,
// real duplicate, gap, misrouted message or failed setup fails the run.
func (r *Report) judge() {
	r.Failures = nil
	add := func(n int64, what string) {
		if n > 0 {
			r.Failures = append(r.Failures, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(r.ConnectErrors, "conversations failed to set up")
	add(r.Lost, "acknowledged messages never delivered")
	add(r.Unacked, "messages never acknowledged")
	add(r.Refused, "messages refused with an error frame")
	add(r.Duplicates, "client_msg_ids stored under two seqs")
	add(r.Gaps, "seq gaps")
	add(r.Misrouted, "misrouted messages")
	if r.Mode == ModeChat && r.Sent == 0 {
		r.Failures = append(r.Failures, "nothing was sent")
	}
	r.OK = len(r.Failures) == 0
}

// Write writes the report as indented JSON to path (when not empty) and to
// stdout (when printJSON).
func (r *Report) Write(path string, stdout io.Writer, printJSON bool) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("loadtest: encode report: %w", err)
	}
	b = append(b, '\n')
	if path != "" {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("loadtest: write report: %w", err)
		}
	}
	if printJSON {
		if _, err := stdout.Write(b); err != nil {
			return fmt.Errorf("loadtest: print report: %w", err)
		}
	}
	return nil
}

// Text is a short human summary.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mode=%s conversations=%d sockets=%d agents=%d connect_errors=%d setup=%.1fs\n",
		r.Mode, r.Conversations, r.Sockets, r.Agents, r.ConnectErrors, r.SetupS)
	if r.Mode == ModeChat {
		fmt.Fprintf(&b, "sent=%d (measured %d, %.1f/s) acked=%d delivered=%d lost=%d unacked=%d refused=%d\n",
			r.Sent, r.MeasuredSent, r.AchievedRate, r.Acked, r.Delivered, r.Lost, r.Unacked, r.Refused)
		fmt.Fprintf(&b, "duplicate_frames=%d duplicates=%d gaps=%d misrouted=%d reconnects=%d failovers=%d\n",
			r.DuplicateFrames, r.Duplicates, r.Gaps, r.Misrouted, r.Reconnects, r.Failovers)
		if r.StalledSockets > 0 {
			fmt.Fprintf(&b, "stalled sockets=%d (not in the figures): flood sent=%d acked=%d refused=%d\n",
				r.StalledSockets, r.StallSent, r.StallAcked, r.StallRefused)
		}
		l := r.Latency
		fmt.Fprintf(&b, "latency ms (n=%d): p50=%.2f p90=%.2f p99=%.2f p99.9=%.2f max=%.2f\n",
			l.Count, l.P50MS, l.P90MS, l.P99MS, l.P999MS, l.MaxMS)
		if r.API != nil {
			fmt.Fprintf(&b, "api ms (n=%d, errors=%d): p50=%.2f p95=%.2f p99=%.2f\n",
				r.API.Count, r.API.Errors, r.API.P50MS, r.API.P95MS, r.API.P99MS)
		}
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(&b, "server pid=%d rss before=%s connected=%s after=%s max=%s", s.PID,
			mib(s.RSSBeforeBytes), mib(s.RSSConnectedBytes), mib(s.RSSAfterBytes), mib(s.RSSMaxBytes))
		if r.Mode == ModeIdle {
			fmt.Fprintf(&b, " per_conn=%d B", s.RSSPerConnBytes)
		} else {
			fmt.Fprintf(&b, " cpu=%.2fs (%.0f µs/msg)", s.CPUSeconds, s.CPUMicrosPerMessage)
		}
		if s.ReadError != "" {
			fmt.Fprintf(&b, " read_error=%q", s.ReadError)
		}
		b.WriteByte('\n')
	}
	if r.OK {
		b.WriteString("OK\n")
	} else {
		fmt.Fprintf(&b, "FAIL: %s\n", strings.Join(r.Failures, "; "))
	}
	return b.String()
}

func mib(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }
