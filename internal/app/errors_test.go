package app

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/enkisys/chorus/internal/chorus"
)

// TestBadInput: bad requests get a clear 4xx with a code, never a 5xx, and
// change nothing.
func TestBadInput(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		_, key := e.setupTenant()
		s := e.visitor(key)
		conv := s.Conversation.ID
		agent := e.token("agent-1", chorus.RoleAgent)
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/accept", agent, nil), 200)
		msgs := "/api/v1/conversations/" + conv + "/messages"

		cases := []struct {
			name   string
			method string
			path   string
			token  string
			body   any
			status int
			code   string
		}{
			{"no token", "GET", "/api/v1/me", "", nil, 401, "unauthorized"},
			{"garbage token", "GET", "/api/v1/me", "abc.def.ghi", nil, 401, "unauthorized"},
			{"malformed json", "POST", msgs, agent, `{"client_msg_id": "a", "body": `, 400, "invalid_request"},
			{"wrong type", "POST", msgs, agent, `{"client_msg_id": 5, "body": "x"}`, 400, "invalid_request"},
			{"empty body", "POST", msgs, agent, map[string]any{"client_msg_id": "a", "body": "   "}, 400, "invalid_request"},
			{"no client id", "POST", msgs, agent, map[string]any{"body": "x"}, 400, "invalid_request"},
			{"control chars", "POST", msgs, agent, map[string]any{"client_msg_id": "a", "body": "a\x07b"}, 400, "invalid_request"},
			{"invalid utf-8", "POST", msgs, agent, []byte("{\"client_msg_id\":\"a\",\"body\":\"\xff\xfe\"}"), 400, "invalid_request"},
			{"too long body", "POST", msgs, agent, map[string]any{"client_msg_id": "a", "body": strings.Repeat("é", 4001)}, 413, "too_large"},
			{"oversized request", "POST", msgs, agent, `{"client_msg_id":"a","body":"` + strings.Repeat("x", 70000) + `"}`, 413, "too_large"},
			{"deep nesting", "POST", msgs, agent, strings.Repeat("[", 5000) + strings.Repeat("]", 5000), 400, "invalid_request"},
			{"bad after_seq", "GET", msgs + "?after_seq=x", agent, nil, 400, "invalid_request"},
			{"negative after_seq", "GET", msgs + "?after_seq=-1", agent, nil, 400, "invalid_request"},
			{"bad read seq", "POST", "/api/v1/conversations/" + conv + "/read", agent, map[string]any{"seq": 0}, 400, "invalid_request"},
			{"unknown conversation", "GET", "/api/v1/conversations/nope", agent, nil, 404, "not_found"},
			{"sql injection id", "GET", "/api/v1/conversations/x'%20OR%20'1'='1", agent, nil, 404, "not_found"},
			{"unknown route", "GET", "/api/v1/nope", agent, nil, 404, "not_found"},
			{"bad channel origin", "POST", "/api/v1/channels", e.token("adm", chorus.RoleAdmin), map[string]any{"type": "web_widget", "name": "x", "allowed_origins": []string{"javascript:alert(1)"}}, 400, "invalid_request"},
			{"bad channel type", "POST", "/api/v1/channels", e.token("adm", chorus.RoleAdmin), map[string]any{"type": "sms", "name": "x"}, 400, "invalid_request"},
			{"bad agent email", "POST", "/api/v1/agents", e.token("adm", chorus.RoleAdmin), map[string]any{"name": "x", "email": "nope"}, 400, "invalid_request"},
			{"bad agent role", "POST", "/api/v1/agents", e.token("adm", chorus.RoleAdmin), map[string]any{"name": "x", "email": "x@example.com", "roles": []string{"god"}}, 400, "invalid_request"},
			{"short password", "POST", "/api/v1/agents", e.token("adm", chorus.RoleAdmin), map[string]any{"name": "x", "email": "x@example.com", "password": "short"}, 400, "invalid_request"},
			{"text/plain", "POST", msgs, agent, nil, 400, "invalid_request"},
		}
		for _, c := range cases {
			var r resp
			if c.name == "text/plain" {
				r = e.call(c.method, c.path, c.token, `{"client_msg_id":"a","body":"x"}`, "Content-Type", "text/plain")
			} else {
				r = e.call(c.method, c.path, c.token, c.body)
			}
			if r.status != c.status || r.code() != c.code {
				t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
			}
		}
		// Nothing was stored by any of them.
		var hist struct{ Items []chorus.Message }
		e.must(e.call("GET", msgs, agent, nil), 200).json(t, &hist)
		if len(hist.Items) != 0 {
			t.Errorf("bad input stored messages: %+v", hist.Items)
		}
		// SQL and HTML in text fields are stored and returned as plain text.
		evil := `'); DROP TABLE messages; -- <script>alert(1)</script>`
		var m chorus.Message
		e.must(e.call("POST", msgs, agent, map[string]any{"client_msg_id": "evil'--", "body": evil}), 201).json(t, &m)
		if m.Body != evil || m.ClientMsgID != "evil'--" {
			t.Errorf("stored %+v", m)
		}
		r := e.must(e.call("GET", msgs, agent, nil), 200)
		if !strings.Contains(string(r.body), `\u003cscript\u003e`) || r.header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("HTML not escaped in JSON: %s", r.body)
		}
		// Login: no user enumeration.
		bad1 := e.callTenant("POST", "/api/v1/auth/login", "", "-", map[string]any{"email": "nobody@example.com", "password": "whatever1", "tenant_id": e.tenant})
		var created struct {
			chorus.Agent
			Password string `json:"password"`
		}
		e.must(e.call("POST", "/api/v1/agents", e.token("adm", chorus.RoleAdmin), map[string]any{"name": "Liz", "email": "liz@example.com", "password": "correct horse"}), 201).json(t, &created)
		bad2 := e.callTenant("POST", "/api/v1/auth/login", "", "-", map[string]any{"email": "liz@example.com", "password": "wrong horse", "tenant_id": e.tenant})
		if bad1.status != 401 || bad2.status != 401 || string(bad1.body) != string(bad2.body) {
			t.Errorf("login failures differ: %d %s / %d %s", bad1.status, bad1.body, bad2.status, bad2.body)
		}
		var lr struct {
			Token string       `json:"token"`
			Agent chorus.Agent `json:"agent"`
		}
		e.must(e.callTenant("POST", "/api/v1/auth/login", "", "-", map[string]any{"email": "LIZ@example.com", "password": "correct horse", "tenant_id": e.tenant}), 200).json(t, &lr)
		if lr.Agent.Email != "liz@example.com" || lr.Token == "" {
			t.Fatalf("login = %+v", lr)
		}
		var me Me
		e.must(e.call("GET", "/api/v1/me", lr.Token, nil), 200).json(t, &me)
		if me.Agent == nil || me.Agent.ID != created.ID {
			t.Errorf("me = %+v", me)
		}
		if r := e.call("POST", "/api/v1/agents", e.token("adm", chorus.RoleAdmin), map[string]any{"name": "Liz", "email": "liz@example.com"}); r.status != 409 {
			t.Errorf("duplicate agent e-mail: %d", r.status)
		}
		if !strings.Contains(e.logs.String(), `"status":413`) {
			t.Error("access log misses the 413")
		}
		if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
			t.Errorf("bad input logged an error:\n%s", e.logs.String())
		}
	})
}

// TestSocketFrames: every bad frame gets an error frame and the socket
// stays open; a frame over 16 KiB closes it with 1009.
func TestSocketFrames(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		_, key := e.setupTenant()
		s := e.visitor(key)
		conv := s.Conversation.ID
		v := e.mustDial("/ws/v1/conversations/"+conv, s.Token)
		bad := []struct {
			frame string
			code  string
		}{
			{`not json`, "invalid_request"},
			{`{"type":"bogus"}`, "invalid_request"},
			{`{}`, "invalid_request"},
			{`{"type":"message.send","body":"x"}`, "invalid_request"},
			{`{"type":"message.send","client_msg_id":"c1"}`, "invalid_request"},
			{`{"type":"message.send","client_msg_id":"c1","body":"   "}`, "invalid_request"},
			{`{"type":"message.send","client_msg_id":"c1","body":"` + strings.Repeat("x", 4001) + `"}`, "too_large"},
			{`{"type":"message.send","client_msg_id":"c1","body":"x","conversation_id":"other"}`, "invalid_request"},
			{`{"type":"typing"}`, "invalid_request"},
			{`{"type":"read","seq":0}`, "invalid_request"},
			{`[1,2,3]`, "invalid_request"},
		}
		for _, b := range bad {
			if err := v.c.WriteMessage(websocket.TextMessage, []byte(b.frame)); err != nil {
				t.Fatal(err)
			}
			if f := v.next("error"); f["code"] != b.code {
				t.Errorf("%.60s: error %v, want %s", b.frame, f, b.code)
			}
		}
		if err := v.c.WriteMessage(websocket.BinaryMessage, []byte{1, 2}); err != nil {
			t.Fatal(err)
		}
		v.next("error")
		// Still open and working.
		v.send(map[string]any{"type": "ping"})
		v.next("pong")
		v.send(map[string]any{"type": "message.send", "client_msg_id": "ok-1", "body": "still here"})
		if a := v.next("message.ack"); num(msgOf(a)["seq"]) != 1 {
			t.Fatalf("ack = %v", a)
		}
		// 16 KiB + 1 closes with 1009.
		_ = v.c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","pad":"`+strings.Repeat("x", 16<<10)+`"}`))
		select {
		case err := <-v.closed:
			if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
				t.Errorf("close = %v, want 1009", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("oversized frame did not close the socket")
		}
		// Refused upgrades answer with the status and error body.
		for _, c := range []struct {
			path, token string
			headers     []string
			status      int
		}{
			{"/ws/v1/conversations/" + conv, "", nil, 401},
			{"/ws/v1/conversations/" + conv, "forged.token.here", nil, 401},
			{"/ws/v1/conversations/" + conv, s.Token, []string{"Origin", "https://evil.example"}, 403},
			{"/ws/v1/conversations/nope", e.token("agent-1", chorus.RoleAgent), nil, 404},
			{"/ws/v1/agent", s.Token, nil, 403},
			{"/ws/v1/conversations/" + conv + "?after_seq=-4", s.Token, nil, 400},
		} {
			_, res, err := e.dial(c.path, c.token, c.headers...)
			if err == nil || res == nil || res.StatusCode != c.status {
				st := 0
				if res != nil {
					st = res.StatusCode
				}
				t.Errorf("%s: status %d, want %d (%v)", c.path, st, c.status, err)
			}
		}
		// Query-string credentials work for browsers.
		w, _, err := e.dialTenant("/ws/v1/conversations/"+conv+"?after_seq=0&access_token="+s.Token+"&tenant_id="+e.tenant, "", "")
		if err != nil {
			t.Fatal(err)
		}
		w.next("hello")
		if m := w.next("message"); msgOf(m)["body"] != "still here" {
			t.Errorf("replay = %v", m)
		}
		if strings.Contains(e.logs.String(), s.Token) {
			t.Error("a query-string token reached the log")
		}
	})
}

// TestSocketRateLimit: a flood gets rate_limited error frames and the
// socket stays open.
func TestSocketRateLimit(t *testing.T) {
	e := startEnv(t, "sqlite", []string{"--limits.messages-per-conn-second=5"})
	_, key := e.setupTenant()
	s := e.visitor(key)
	v := e.mustDial("/ws/v1/conversations/"+s.Conversation.ID, s.Token)
	for i := 0; i < 30; i++ {
		v.send(map[string]any{"type": "message.send", "client_msg_id": "f" + string(rune('a'+i)), "body": "flood"})
	}
	if f := v.next("error"); f["code"] != "rate_limited" {
		t.Fatalf("flood: %v", f)
	}
	v.send(map[string]any{"type": "ping"})
	v.next("pong")
	m := metrics(t, e)
	if !strings.Contains(m, `chorus_rate_limited_total{limit="messages_per_connection"}`) {
		t.Error("rate limit not in metrics")
	}
	if !strings.Contains(m, "chorus_ws_bus_topics 1\n") || !strings.Contains(m, `chorus_ws_connections{kind="conversation"} 1`) {
		t.Error("socket gauges not in metrics")
	}
}

func metrics(t *testing.T, e *env) string {
	t.Helper()
	r := e.callTenant("GET", "/metrics", "", "-", nil)
	if r.status != 200 {
		t.Fatalf("metrics: %d", r.status)
	}
	return string(r.body)
}
