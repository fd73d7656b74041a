package loadtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// record is the fate of one scheduled send (slot). Its scheduled time is
// derived from the slot number, so it is not stored.
type record struct {
	ack    atomic.Int64 // seq from message.ack, 0 until acknowledged
	deliv  atomic.Int64 // seq of the first delivery to the other party, 0 until delivered
	failed atomic.Bool  // refused with an error frame
	dup    atomic.Bool  // seen under two different seqs (counted once)
}

// markDup counts slot rec as a real duplicate, once.
func (r *runner) markDup(rec *record) {
	if !rec.dup.Swap(true) {
		r.dups.Add(1)
	}
}

// plan is what readers need once sending starts; it is published atomically
// because readers start during setup, before the plan exists.
type plan struct {
	socks []*sock // socket 2c is conversation c's visitor, 2c+1 its agent
	recs  []record
	sched Schedule
	warm  int64 // slots below warm are warmup: checked for loss, not in latency
}

// slotSock returns the socket that sends slot i: slots go round-robin over
// the sockets, so each socket sends rate/sockets messages per second.
func (p *plan) slotSock(i int64) *sock { return p.socks[i%int64(len(p.socks))] }

type runner struct {
	cfg     Config
	logger  *slog.Logger
	out     io.Writer
	api     *api
	base    *url.URL
	wsBases []*url.URL // WebSocket gateways; a socket fails over along this list
	tenant  string
	runID   string
	prefix  string // client_msg_id prefix of this run
	stallID string // client_msg_id prefix of the untracked messages sent to stalled sockets
	dialers dialers

	plan    atomic.Pointer[plan]
	closing atomic.Bool
	readers sync.WaitGroup

	lat, window, ackLat, apiLat Sample

	sent, acked, delivered, refused          atomic.Int64
	dupFrames, dups, misrouted               atomic.Int64
	reconnects, reconnectErrors, writeErrors atomic.Int64
	retries, apiErrors                       atomic.Int64
	failovers                                atomic.Int64
	stallSent, stallAcked, stallRefused      atomic.Int64
	setupDone                                atomic.Int64
	errMu                                    sync.Mutex
	errCodes                                 map[string]int64
	setupErrs                                map[string]int64
	firstSetupErr                            string
	rssMax                                   atomic.Int64
	emitted                                  int64 // slots the schedule emitted (set before finish)
}

// Run performs one load run and returns its report. An error means the run
// could not start (bad configuration, no channel, no conversation set up);
// problems found during the run are in the report (Report.OK).
func Run(ctx context.Context, cfg Config, logger *slog.Logger, progress io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.URL)
	idb := make([]byte, 4)
	_, _ = rand.Read(idb)
	r := &runner{
		cfg:       cfg,
		logger:    logger,
		out:       progress,
		base:      base,
		wsBases:   cfg.wsBases(),
		tenant:    cfg.tenant(),
		runID:     hex.EncodeToString(idb),
		dialers:   newDialers(SourceIPs(cfg.SourceIPs, base.Host), cfg.HandshakeTimeout),
		errCodes:  map[string]int64{},
		setupErrs: map[string]int64{},
	}
	r.prefix = "lt-" + r.runID + "-"
	r.stallID = r.prefix + "stall-"
	r.api = newAPI(base, r.tenant, r.dialers)
	return r.run(ctx)
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	rep := &Report{Mode: cfg.Mode, URL: cfg.URL, Tenant: r.tenant, RunID: r.runID, ConnsRequested: cfg.Conns,
		Agents: cfg.agents()}
	if cfg.Mode == ModeChat {
		rep.Rate, rep.DurationS, rep.WarmupS = cfg.Rate, cfg.Duration.Seconds(), cfg.Warmup.Seconds()
	}
	var srv *ServerReport
	if cfg.PID > 0 {
		srv = &ServerReport{PID: cfg.PID}
		rep.Server = srv
		if p, err := ReadProc(cfg.PID); err != nil {
			srv.ReadError = err.Error()
		} else {
			srv.RSSBeforeBytes = p.RSSBytes
			r.rssMax.Store(p.RSSBytes)
		}
	}

	sockCtx, cancelSocks := context.WithCancel(context.Background())
	defer cancelSocks()
	setupStart := time.Now()
	convs, socks, err := r.setup(ctx, sockCtx)
	rep.SetupS = time.Since(setupStart).Seconds()
	r.errMu.Lock()
	for k, v := range r.setupErrs {
		rep.ConnectErrors += v
		if rep.SetupErrors == nil {
			rep.SetupErrors = map[string]int64{}
		}
		rep.SetupErrors[k] = v
	}
	rep.FirstSetupError = r.firstSetupErr
	r.errMu.Unlock()
	rep.Conversations, rep.Sockets = len(convs), len(socks)
	shutdown := func() {
		r.closing.Store(true)
		cancelSocks()
		for _, s := range socks {
			s.shutdown()
		}
		r.readers.Wait()
	}
	if err != nil {
		shutdown()
		return nil, err
	}
	if len(convs) == 0 {
		shutdown()
		return nil, fmt.Errorf("loadtest: set up conversations: none succeeded (%d errors; first: %s)", rep.ConnectErrors, rep.FirstSetupError)
	}
	if srv != nil {
		if p, err := ReadProc(cfg.PID); err == nil {
			srv.RSSConnectedBytes = p.RSSBytes
			r.noteRSS(p.RSSBytes)
		}
	}

	if cfg.Mode == ModeIdle {
		r.idle(ctx, rep, len(socks))
		shutdown()
		rep.judge()
		return rep, nil
	}
	r.chat(ctx, rep, convs, socks)
	shutdown()
	r.finish(rep, socks)
	return rep, nil
}

// setup creates the conversations at --connect-rate, with a bounded number
// in flight, and returns the ones that fully succeeded.
func (r *runner) setup(ctx, sockCtx context.Context) ([]*conv, []*sock, error) {
	cfg := r.cfg
	adminToken, agentTokens, agentSubs, err := r.tokens()
	if err != nil {
		return nil, nil, err
	}
	widgetKey := cfg.WidgetKey
	if widgetKey == "" {
		if widgetKey, err = r.api.createChannel(ctx, adminToken); err != nil {
			return nil, nil, fmt.Errorf("loadtest: create channel (pass --widget-key to use an existing one): %w", err)
		}
	}
	n := cfg.Conns / 2
	type result struct {
		cv    *conv
		socks [2]*sock
	}
	results := make([]result, n)
	stop := r.ticker(func(elapsed time.Duration) {
		fmt.Fprintf(r.out, "[ramp %5.1fs] conversations %d/%d errors=%d\n", elapsed.Seconds(), r.setupDone.Load(), n, r.setupErrCount())
	})
	defer stop()
	// Give up early when the first setups all fail (a bad token or key
	// would otherwise fail every conversation at the ramp's pace).
	rampCtx, cancelRamp := context.WithCancel(ctx)
	defer cancelRamp()
	var ok atomic.Int64
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	ramp := Schedule{Start: time.Now(), Rate: cfg.ConnectRate, N: int64(n)}
	ramp.Run(rampCtx, func(i int64, _ time.Time) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			k := int(i) % len(agentTokens)
			cv, socks, stage, err := r.setupConv(rampCtx, sockCtx, int(i), widgetKey, adminToken, agentTokens, agentSubs, k)
			r.setupDone.Add(1)
			if err != nil {
				if rampCtx.Err() == nil {
					r.setupErr(stage, err)
				}
				if ok.Load() == 0 && r.setupErrCount() >= failFastAfter {
					cancelRamp()
				}
				return
			}
			ok.Add(1)
			results[i] = result{cv, socks}
		})
	})
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// Hand back what was opened so the caller closes it.
		var socks []*sock
		for _, res := range results {
			if res.cv != nil {
				socks = append(socks, res.socks[0], res.socks[1])
			}
		}
		return nil, socks, fmt.Errorf("loadtest: set up conversations: %w", err)
	}
	var convs []*conv
	var socks []*sock
	for _, res := range results {
		if res.cv != nil {
			convs = append(convs, res.cv)
			socks = append(socks, res.socks[0], res.socks[1])
		}
	}
	return convs, socks, nil
}

// failFastAfter is how many setup failures without a single success end the ramp.
const failFastAfter = 10

// tokens returns the admin token and one token per agent, minting them when
// a secret is configured.
func (r *runner) tokens() (admin string, agents, subs []string, err error) {
	cfg := r.cfg
	if cfg.JWTSecret == "" {
		return cfg.AdminToken, []string{cfg.AdminToken}, []string{tokenClaim(cfg.AdminToken, "sub")}, nil
	}
	now := time.Now()
	mint := func(sub string, roles ...string) (string, error) {
		return MintToken([]byte(cfg.JWTSecret), Claims{Sub: sub, TenantID: r.tenant, Roles: roles, Name: sub,
			IAT: now.Unix(), EXP: now.Add(MaxTokenTTL).Unix()})
	}
	admin = cfg.AdminToken
	if admin == "" {
		if admin, err = mint("load-admin-"+r.runID, "admin"); err != nil {
			return "", nil, nil, err
		}
	}
	for k := range cfg.agents() {
		sub := fmt.Sprintf("load-agent-%s-%d", r.runID, k)
		tok, err := mint(sub, "agent")
		if err != nil {
			return "", nil, nil, err
		}
		agents, subs = append(agents, tok), append(subs, sub)
	}
	return admin, agents, subs, nil
}

// setupConv creates a visitor session, has agent k accept it and opens both
// sockets. On failure it returns the stage that failed.
func (r *runner) setupConv(ctx, sockCtx context.Context, i int, widgetKey, adminToken string, agentTokens, agentSubs []string, k int) (*conv, [2]*sock, string, error) {
	var socks [2]*sock
	sess, err := r.api.createSession(ctx, widgetKey, fmt.Sprintf("load %s %d", r.runID, i))
	if err != nil {
		return nil, socks, "session", err
	}
	cv := &conv{id: sess.Conversation.ID, visitorToken: sess.Token, agentToken: agentTokens[k]}
	if _, err := r.api.accept(ctx, cv.agentToken, cv.id); err != nil {
		// The server may have routed it to one of our agents already.
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusConflict {
			return nil, socks, "accept", err
		}
		c, gerr := r.api.conversation(ctx, adminToken, cv.id)
		if gerr != nil || c.Status != "active" || c.AssigneeID == nil {
			return nil, socks, "accept", err
		}
		found := false
		for j, sub := range agentSubs {
			if sub == *c.AssigneeID {
				cv.agentToken, found = agentTokens[j], true
			}
		}
		if !found {
			return nil, socks, "accept", fmt.Errorf("loadtest: accept: taken by %s: %w", *c.AssigneeID, err)
		}
	}
	for side := range 2 {
		s := &sock{run: r, cv: cv, side: side, idx: 2*i + side, wsIdx: (2*i + side) % len(r.wsBases)}
		ws, last, err := s.dial(ctx, -1)
		if err != nil {
			for _, o := range socks[:side] {
				o.shutdown()
			}
			return nil, socks, "websocket", err
		}
		s.ws = ws
		s.seen.reset(last)
		socks[side] = s
		r.readers.Add(1)
		go s.loop(sockCtx, ws)
	}
	return cv, socks, "", nil
}

func (r *runner) setupErr(stage string, err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.setupErrs[stage]++
	if r.firstSetupErr == "" {
		r.firstSetupErr = stage + ": " + err.Error()
		r.logger.Warn("conversation setup failed", "stage", stage, "err", err)
	}
}

func (r *runner) setupErrCount() int64 {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	var n int64
	for _, v := range r.setupErrs {
		n += v
	}
	return n
}

// ticker calls f every progress interval until the returned stop is called.
func (r *runner) ticker(f func(elapsed time.Duration)) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f(time.Since(start))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (r *runner) noteRSS(v int64) {
	for {
		cur := r.rssMax.Load()
		if v <= cur || r.rssMax.CompareAndSwap(cur, v) {
			return
		}
	}
}

// idle holds the connections for the settle period, then reads the server's
// RSS: (after − before) / sockets.
func (r *runner) idle(ctx context.Context, rep *Report, sockets int) {
	stop := r.ticker(func(elapsed time.Duration) {
		line := fmt.Sprintf("[idle %5.1fs] sockets=%d reconnects=%d", elapsed.Seconds(), sockets, r.reconnects.Load())
		if r.cfg.PID > 0 {
			if p, err := ReadProc(r.cfg.PID); err == nil {
				r.noteRSS(p.RSSBytes)
				line += " rss=" + mib(p.RSSBytes)
			}
		}
		fmt.Fprintln(r.out, line)
	})
	sleepCtx(ctx, r.cfg.Settle)
	stop()
	rep.Reconnects = r.reconnects.Load()
	if srv := rep.Server; srv != nil {
		p, err := ReadProc(r.cfg.PID)
		if err != nil {
			srv.ReadError = err.Error()
			return
		}
		r.noteRSS(p.RSSBytes)
		srv.RSSAfterBytes, srv.RSSMaxBytes = p.RSSBytes, r.rssMax.Load()
		srv.RSSPerConnBytes = (p.RSSBytes - srv.RSSBeforeBytes) / int64(sockets)
	}
}

// chat runs the open-loop send schedule, the API probe and the drain.
func (r *runner) chat(ctx context.Context, rep *Report, convs []*conv, socks []*sock) {
	cfg := r.cfg
	// The first conversations are stalled: left out of the schedule and the
	// accounting, their visitor stops reading and their agent floods it.
	stalled := cfg.Stall
	if stalled >= len(convs) {
		stalled = len(convs) - 1
	}
	rep.StalledSockets = stalled
	warm := SlotsFor(cfg.Rate, cfg.Warmup)
	p := &plan{
		socks: socks[2*stalled:],
		sched: Schedule{Start: time.Now().Add(100 * time.Millisecond), Rate: cfg.Rate, N: warm + SlotsFor(cfg.Rate, cfg.Duration)},
		warm:  warm,
	}
	p.recs = make([]record, p.sched.N)
	r.plan.Store(p)
	measureStart := p.sched.At(warm)
	var flood sync.WaitGroup
	for k := range stalled {
		visitor, agent := socks[2*k], socks[2*k+1]
		visitor.stalled.Store(true)
		fs := Schedule{Start: p.sched.Start, Rate: cfg.StallRate, N: SlotsFor(cfg.StallRate, cfg.Warmup+cfg.Duration)}
		flood.Go(func() {
			fs.Run(ctx, func(j int64, _ time.Time) { agent.sendUntracked(r.stallFrame(k, j)) })
		})
	}
	convs = convs[stalled:]

	// CPU is read at the end of warmup and at the end of drain.
	var cpuStart atomic.Pointer[ProcSample]
	if cfg.PID > 0 {
		t := time.AfterFunc(time.Until(measureStart), func() {
			if s, err := ReadProc(cfg.PID); err == nil {
				cpuStart.Store(&s)
			}
		})
		defer t.Stop()
	}

	var lastCPU float64
	stop := r.ticker(func(elapsed time.Duration) { r.progress(elapsed, &lastCPU) })
	defer stop()

	// API probe: its own open-loop schedule over the measured period.
	var probes sync.WaitGroup
	if cfg.APIProbeRate > 0 {
		rep.API = &APIReport{Rate: cfg.APIProbeRate}
		ps := Schedule{Start: measureStart, Rate: cfg.APIProbeRate, N: SlotsFor(cfg.APIProbeRate, cfg.Duration)}
		probes.Go(func() {
			ps.Run(ctx, func(j int64, at time.Time) {
				cv := convs[j%int64(len(convs))]
				probes.Go(func() {
					if err := r.api.recentMessages(ctx, cv.agentToken, cv.id); err != nil {
						r.apiErrors.Add(1)
						r.logger.Debug("api probe failed", "err", err)
						return
					}
					r.apiLat.Add(time.Since(at))
				})
			})
		})
	}

	// One scheduler, a small pool of writers: a socket blocked in a write
	// holds up one writer, never the schedule.
	jobs := make(chan int64, 1<<16)
	var writers sync.WaitGroup
	for range cfg.Writers {
		writers.Go(func() {
			for i := range jobs {
				p.slotSock(i).send(i)
			}
		})
	}
	n := p.sched.Run(ctx, func(i int64, _ time.Time) { jobs <- i })
	close(jobs)
	writers.Wait()
	flood.Wait()
	r.emitted = n
	sendEnd := time.Now()
	if n > warm {
		rep.MeasuredSent = n - warm
		rep.AchievedRate = float64(n-warm) / sendEnd.Sub(measureStart).Seconds()
	}

	// Drain: wait for stragglers.
	deadline := time.Now().Add(cfg.Drain)
	for r.outstanding(p, n) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		sleepCtx(ctx, 20*time.Millisecond)
	}
	rep.DrainS = time.Since(sendEnd).Seconds()
	probes.Wait()

	if srv := rep.Server; srv != nil {
		end, err := ReadProc(cfg.PID)
		if err != nil {
			srv.ReadError = err.Error()
		} else {
			r.noteRSS(end.RSSBytes)
			srv.RSSAfterBytes = end.RSSBytes
			if s := cpuStart.Load(); s != nil {
				srv.CPUSeconds = end.CPUSeconds - s.CPUSeconds
			}
		}
		srv.RSSMaxBytes = r.rssMax.Load()
	}
}

// outstanding counts sent slots still waiting for an ack or a delivery.
func (r *runner) outstanding(p *plan, n int64) int {
	out := 0
	for i := range n {
		rec := &p.recs[i]
		if !rec.failed.Load() && (rec.ack.Load() == 0 || rec.deliv.Load() == 0) {
			out++
		}
	}
	return out
}

func (r *runner) progress(elapsed time.Duration, lastCPU *float64) {
	w := r.window.Reset().Summarize()
	line := fmt.Sprintf("[%5.1fs] sent=%d acked=%d delivered=%d lat(1s) n=%d p50=%.1fms p99=%.1fms max=%.1fms reconnects=%d refused=%d dup=%d",
		elapsed.Seconds(), r.sent.Load(), r.acked.Load(), r.delivered.Load(), w.Count, w.P50MS, w.P99MS, w.MaxMS,
		r.reconnects.Load(), r.refused.Load(), r.dups.Load())
	if r.cfg.PID > 0 {
		if p, err := ReadProc(r.cfg.PID); err == nil {
			r.noteRSS(p.RSSBytes)
			if *lastCPU > 0 {
				line += fmt.Sprintf(" cpu=%.0f%%", 100*(p.CPUSeconds-*lastCPU)/r.cfg.ProgressInterval.Seconds())
			}
			*lastCPU = p.CPUSeconds
			line += " rss=" + mib(p.RSSBytes)
		}
	}
	fmt.Fprintln(r.out, line)
}

// finish computes the final accounting once every reader has stopped.
func (r *runner) finish(rep *Report, socks []*sock) {
	p := r.plan.Load()
	rep.Sent = r.sent.Load()
	rep.Acked, rep.Delivered, rep.Refused = r.acked.Load(), r.delivered.Load(), r.refused.Load()
	rep.DuplicateFrames, rep.Duplicates, rep.Misrouted = r.dupFrames.Load(), r.dups.Load(), r.misrouted.Load()
	rep.Reconnects, rep.ReconnectErrors, rep.WriteErrors = r.reconnects.Load(), r.reconnectErrors.Load(), r.writeErrors.Load()
	rep.Failovers = r.failovers.Load()
	rep.StallSent, rep.StallAcked, rep.StallRefused = r.stallSent.Load(), r.stallAcked.Load(), r.stallRefused.Load()
	if p != nil {
		rep.Lost, rep.Unacked = lossCounts(p.recs[:r.emitted])
	}
	for _, s := range socks {
		rep.Gaps += s.seen.holes()
	}
	r.errMu.Lock()
	if len(r.errCodes) > 0 {
		rep.ErrorCodes = make(map[string]int64, len(r.errCodes))
		for k, v := range r.errCodes {
			rep.ErrorCodes[k] = v
		}
	}
	r.errMu.Unlock()
	rep.Latency, rep.AckLatency = r.lat.Summarize(), r.ackLat.Summarize()
	if rep.API != nil {
		s := r.apiLat.Summarize()
		rep.API.Count, rep.API.Errors = s.Count, r.apiErrors.Load()
		rep.API.P50MS, rep.API.P95MS, rep.API.P99MS, rep.API.MaxMS = s.P50MS, s.P95MS, s.P99MS, s.MaxMS
	}
	if srv := rep.Server; srv != nil && srv.CPUSeconds > 0 && rep.Latency.Count > 0 {
		srv.CPUMicrosPerMessage = srv.CPUSeconds * 1e6 / float64(rep.Latency.Count)
	}
	rep.judge()
}

// lossCounts returns how many slots were acknowledged but never delivered,
// and how many were neither acknowledged nor refused. recs holds exactly the
// slots the schedule emitted (see chat), so every one of them was sent.
func lossCounts(recs []record) (lost, unacked int64) {
	for i := range recs {
		rec := &recs[i]
		switch {
		case rec.failed.Load():
		case rec.ack.Load() != 0 && rec.deliv.Load() == 0:
			lost++
		case rec.ack.Load() == 0:
			unacked++
		}
	}
	return lost, unacked
}

// frame returns the message.send frame of slot i. The body carries the same
// unique id as client_msg_id, padded to --body-size.
func (r *runner) frame(i int64) []byte {
	id := r.prefix + strconv.FormatInt(i, 10)
	b := make([]byte, 0, 64+len(id)+r.cfg.BodySize)
	b = append(b, `{"type":"message.send","client_msg_id":"`...)
	b = append(b, id...)
	b = append(b, `","body":"`...)
	body := len(b)
	b = append(b, id...)
	b = append(b, ' ')
	for len(b)-body < r.cfg.BodySize {
		b = append(b, 'x')
	}
	b = append(b, `"}`...)
	return b
}

// stallFrame returns message j of the flood sent to stalled conversation k:
// the longest body the server accepts, so the stalled socket's buffers fill
// quickly, and an id outside the slot space, so it is never accounted as a slot.
func (r *runner) stallFrame(k int, j int64) []byte {
	id := r.stallID + strconv.Itoa(k) + "-" + strconv.FormatInt(j, 10)
	b := make([]byte, 0, 4100+2*len(id))
	b = append(b, `{"type":"message.send","client_msg_id":"`...)
	b = append(b, id...)
	b = append(b, `","body":"`...)
	b = append(b, id...)
	b = append(b, ' ')
	b = append(b, strings.Repeat("s", stallBodyChars-len(id)-1)...)
	b = append(b, `"}`...)
	return b
}

// isStall reports whether clientMsgID belongs to the flood to stalled sockets.
func (r *runner) isStall(clientMsgID string) bool {
	return r.stallID != "" && strings.HasPrefix(clientMsgID, r.stallID)
}

// stallBodyChars is the body length of the flood to stalled sockets
// (chorus.MaxBodyChars, the largest the server accepts).
const stallBodyChars = 4000

// slotOf extracts the slot number from a client_msg_id, or from the body
// when the server did not echo client_msg_id.
func (r *runner) slotOf(clientMsgID, body string) (int64, bool) {
	s, ok := strings.CutPrefix(clientMsgID, r.prefix)
	if !ok {
		if s, ok = strings.CutPrefix(body, r.prefix); !ok {
			return 0, false
		}
		s, _, _ = strings.Cut(s, " ")
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil && i >= 0
}

type wireFrame struct {
	Type        string          `json:"type"`
	ClientMsgID string          `json:"client_msg_id"`
	Code        string          `json:"code"`
	Message     json.RawMessage `json:"message"`
}

type wireMessage struct {
	Seq         int64  `json:"seq"`
	SenderType  string `json:"sender_type"`
	Body        string `json:"body"`
	ClientMsgID string `json:"client_msg_id"`
}

// handle processes one server frame received by s at now.
func (r *runner) handle(s *sock, data []byte, now time.Time) {
	var f wireFrame
	if err := json.Unmarshal(data, &f); err != nil {
		r.logger.Debug("bad frame", "err", err)
		return
	}
	switch f.Type {
	case "message", "message.ack":
		var m wireMessage
		if err := json.Unmarshal(f.Message, &m); err != nil || m.Seq <= 0 {
			r.logger.Debug("bad message frame", "err", err)
			return
		}
		s.seen.add(m.Seq)
		if f.Type == "message" {
			r.onMessage(s, m, now)
		} else {
			r.onAck(s, cmp.Or(f.ClientMsgID, m.ClientMsgID), m.Seq, now)
		}
	case "error":
		if r.isStall(f.ClientMsgID) {
			r.stallRefused.Add(1)
			return
		}
		r.errMu.Lock()
		r.errCodes[cmp.Or(f.Code, "unknown")]++
		r.errMu.Unlock()
		p := r.plan.Load()
		if i, ok := r.slotOf(f.ClientMsgID, ""); ok && p != nil && i < int64(len(p.recs)) && p.slotSock(i) == s {
			if p.recs[i].ack.Load() == 0 && !p.recs[i].failed.Swap(true) {
				r.refused.Add(1)
			}
			s.settle(i)
		}
	}
}

// onMessage accounts a message delivered to s.
func (r *runner) onMessage(s *sock, m wireMessage, now time.Time) {
	if m.SenderType == sideNames[s.side] {
		return // our own message echoed back: allowed, dropped
	}
	i, ok := r.slotOf(m.ClientMsgID, m.Body)
	if !ok {
		return // not this run's (a system message, an earlier run)
	}
	p := r.plan.Load()
	if p == nil || i >= int64(len(p.recs)) {
		r.misrouted.Add(1)
		return
	}
	if from := p.slotSock(i); from.cv != s.cv || from.side == s.side {
		r.misrouted.Add(1)
		return
	}
	rec := &p.recs[i]
	if rec.deliv.CompareAndSwap(0, m.Seq) {
		r.delivered.Add(1)
		if a := rec.ack.Load(); a != 0 && a != m.Seq {
			r.markDup(rec) // acknowledged under one seq, delivered under another
		}
		lat := now.Sub(p.sched.At(i))
		r.window.Add(lat)
		if i >= p.warm {
			r.lat.Add(lat)
		}
		return
	}
	if rec.deliv.Load() == m.Seq {
		r.dupFrames.Add(1)
	} else {
		r.markDup(rec)
	}
}

// onAck accounts an acknowledgement received by the sending socket s.
func (r *runner) onAck(s *sock, clientMsgID string, seq int64, now time.Time) {
	if r.isStall(clientMsgID) {
		r.stallAcked.Add(1)
		return
	}
	i, ok := r.slotOf(clientMsgID, "")
	p := r.plan.Load()
	if !ok || p == nil || i >= int64(len(p.recs)) || p.slotSock(i) != s {
		r.misrouted.Add(1)
		return
	}
	rec := &p.recs[i]
	if rec.ack.CompareAndSwap(0, seq) {
		r.acked.Add(1)
		if i >= p.warm {
			r.ackLat.Add(now.Sub(p.sched.At(i)))
		}
	} else if rec.ack.Load() != seq {
		r.markDup(rec) // the retry was stored again under a new seq
	}
	if d := rec.deliv.Load(); d != 0 && d != seq {
		r.markDup(rec) // delivered under one seq, acknowledged under another
	}
	s.settle(i)
}

// tokenClaim reads a string claim of a JWT without verifying it.
func tokenClaim(token, name string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	v, _ := m[name].(string)
	return v
}
