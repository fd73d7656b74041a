package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Sides of a conversation.
const (
	sideVisitor = 0
	sideAgent   = 1
)

var sideNames = [2]string{"visitor", "agent"}

// conv is one established 1:1 conversation.
type conv struct {
	id           string
	visitorToken string
	agentToken   string
}

// sock is one WebSocket on /ws/v1/conversations/{id}. Its reader goroutine
// owns seen; writeMu guards ws (writers, reconnect, shutdown) and pendMu
// guards pending. They are separate so that a reader settling an ack never
// waits behind a blocked write (which could deadlock against a server that
// blocks on writing to us).
type sock struct {
	run  *runner
	cv   *conv
	side int
	idx  int // connection number, picks the source address
	// wsIdx is the gateway (runner.wsBases) the socket dials; only the
	// socket's own goroutine changes it (setup, then the reader).
	wsIdx int
	// stalled: stop reading after the next frame (set when sending starts).
	stalled atomic.Bool

	writeMu sync.Mutex
	ws      *websocket.Conn

	pendMu  sync.Mutex
	pending map[int64]struct{} // slots sent and not yet acknowledged or refused

	seen seqTracker
}

func (s *sock) token() string {
	if s.side == sideVisitor {
		return s.cv.visitorToken
	}
	return s.cv.agentToken
}

// dial opens the socket and waits for hello. afterSeq < 0 means no replay.
func (s *sock) dial(ctx context.Context, afterSeq int64) (*websocket.Conn, int64, error) {
	r := s.run
	q := url.Values{}
	if afterSeq >= 0 {
		q.Set("after_seq", strconv.FormatInt(afterSeq, 10))
	}
	u := wsURL(r.wsBases[s.wsIdx], "/ws/v1/conversations/"+url.PathEscape(s.cv.id), q)
	h := http.Header{"Authorization": {"Bearer " + s.token()}, "X-Tenant-ID": {r.tenant}}
	for attempt := 0; ; attempt++ {
		ws, resp, err := r.dialers.pick(s.idx).DialContext(ctx, u, h)
		if err != nil {
			if resp != nil && resp.StatusCode == http.StatusTooManyRequests && attempt < maxRetries {
				if !sleepCtx(ctx, retryAfter(resp.Header.Get("Retry-After"), attempt)) {
					return nil, 0, ctx.Err()
				}
				continue
			}
			if resp != nil {
				return nil, 0, fmt.Errorf("loadtest: dial %s socket: status %d: %w", sideNames[s.side], resp.StatusCode, err)
			}
			return nil, 0, fmt.Errorf("loadtest: dial %s socket: %w", sideNames[s.side], err)
		}
		ws.SetReadLimit(1 << 20)
		_ = ws.SetReadDeadline(time.Now().Add(r.cfg.HandshakeTimeout))
		_, data, err := ws.ReadMessage()
		if err != nil {
			ws.Close()
			return nil, 0, fmt.Errorf("loadtest: read hello: %w", err)
		}
		var hello struct {
			Type    string `json:"type"`
			LastSeq int64  `json:"last_seq"`
		}
		if err := json.Unmarshal(data, &hello); err != nil || hello.Type != "hello" {
			ws.Close()
			return nil, 0, fmt.Errorf("loadtest: read hello: first frame is not hello: %.100s", data)
		}
		_ = ws.SetReadDeadline(time.Time{})
		return ws, hello.LastSeq, nil
	}
}

// send writes slot i to the socket, or leaves it pending when the socket is
// down (it is then sent after the reconnect).
func (s *sock) send(i int64) {
	r := s.run
	frame := r.frame(i)
	s.pendMu.Lock()
	if s.pending == nil {
		s.pending = make(map[int64]struct{})
	}
	s.pending[i] = struct{}{}
	s.pendMu.Unlock()
	r.sent.Add(1)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.ws == nil {
		return
	}
	s.writeLocked(frame)
}

// sendUntracked writes a frame that is not a slot (the flood to a stalled
// socket); nothing is retried when the socket is down.
func (s *sock) sendUntracked(frame []byte) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.ws != nil && s.writeLocked(frame) {
		s.run.stallSent.Add(1)
	}
}

func (s *sock) writeLocked(frame []byte) bool {
	_ = s.ws.SetWriteDeadline(time.Now().Add(s.run.cfg.WriteTimeout))
	if err := s.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		s.run.writeErrors.Add(1)
		s.ws.Close() // the reader sees the error and reconnects
		s.ws = nil
		return false
	}
	return true
}

func (s *sock) settle(i int64) {
	s.pendMu.Lock()
	delete(s.pending, i)
	s.pendMu.Unlock()
}

// loop reads frames until shutdown, reconnecting with after_seq on a drop.
func (s *sock) loop(ctx context.Context, ws *websocket.Conn) {
	r := s.run
	defer r.readers.Done()
	for {
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				break
			}
			r.handle(s, data, time.Now())
			if s.stalled.Load() {
				<-ctx.Done() // a client that stops reading: the server's buffers fill
				break
			}
		}
		ws.Close()
		if r.closing.Load() || ctx.Err() != nil {
			return
		}
		r.reconnects.Add(1)
		s.writeMu.Lock()
		if s.ws == ws {
			s.ws = nil
		}
		s.writeMu.Unlock()
		if ws = s.reconnect(ctx); ws == nil {
			return
		}
	}
}

// reconnect dials again with after_seq = the highest contiguous seq seen (the
// highest seen, unless an ack overtook an earlier message, which must then be
// replayed too), then resends every pending slot with its client_msg_id.
func (s *sock) reconnect(ctx context.Context) *websocket.Conn {
	r := s.run
	for attempt := 0; ; attempt++ {
		if r.closing.Load() {
			return nil
		}
		ws, _, err := s.dial(ctx, s.seen.low)
		if err != nil {
			r.reconnectErrors.Add(1)
			if n := len(r.wsBases); n > 1 {
				// Fail over: the next attempt dials the next gateway.
				s.wsIdx = (s.wsIdx + 1) % n
				r.failovers.Add(1)
			}
			r.logger.Debug("reconnect failed", "conversation_id", s.cv.id, "side", sideNames[s.side], "err", err)
			if !sleepCtx(ctx, min(100*time.Millisecond<<min(attempt, 5), 2*time.Second)) {
				return nil
			}
			continue
		}
		s.writeMu.Lock()
		if r.closing.Load() {
			s.writeMu.Unlock()
			ws.Close()
			return nil
		}
		s.ws = ws
		s.pendMu.Lock()
		retry := make([]int64, 0, len(s.pending))
		for i := range s.pending {
			retry = append(retry, i)
		}
		s.pendMu.Unlock()
		slices.Sort(retry)
		for _, i := range retry {
			if !s.writeLocked(r.frame(i)) {
				break
			}
			r.retries.Add(1)
		}
		s.writeMu.Unlock()
		return ws
	}
}

// shutdown closes the socket politely; the reader then exits.
func (s *sock) shutdown() {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.ws == nil {
		return
	}
	_ = s.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, "load test done"), time.Now().Add(time.Second))
	s.ws.Close()
	s.ws = nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
