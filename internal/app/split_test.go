package app

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// chorusBinary builds cmd/chorus once per test run.
func chorusBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chorus-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "chorus")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/chorus").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type proc struct {
	cmd  *exec.Cmd
	addr string
	out  *syncBuffer
	done chan error
}

// startProc runs the chorus binary with args on a free port.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := &proc{addr: addr, out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(chorusBinary(t), append([]string{"--http-addr=" + addr, "--log-format=text", "--shutdown-timeout=5s"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "CHORUS_DATA_DIR="+t.TempDir())
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("%v exited with %v:\n%s", args, err, tail(p.out.String()))
			}
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Errorf("%v did not stop on SIGTERM", args)
		}
	})
	return p
}

func tail(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("process exited: %v\n%s", err, tail(p.out.String()))
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("not ready after 60s:\n%s", tail(p.out.String()))
}

// TestSplitDeployment runs two chat and two gateway processes, started
// together on an empty PostgreSQL (migrations race under a lock) with Redis:
// a visitor on gateway A and an agent on gateway B chat both ways with
// receipts and typing.
func TestSplitDeployment(t *testing.T) {
	t.Parallel()
	dbURL := chorustest.PostgresURL(t)
	redisURL := chorustest.RedisURL(t)
	secret := "split-secret-" + chorustest.RandomSuffix(16)
	common := []string{"--database-url=" + dbURL, "--redis-url=" + redisURL, "--redis-prefix=" + chorustest.Prefix(t), "--jwt-secret=" + secret}
	common = append(common, testLimits...)
	var procs []*proc
	for _, role := range []string{"chat", "chat", "gateway", "gateway"} {
		procs = append(procs, startProc(t, append([]string{"--roles=" + role}, common...)...))
	}
	for _, p := range procs {
		p.waitReady(t)
	}
	chatA, gwA, gwB := procs[0], procs[2], procs[3]
	e := &env{t: t, base: "http://" + chatA.addr, secret: []byte(secret), tenant: "split" + chorustest.RandomSuffix(4), logs: &syncBuffer{}}
	_, key := e.setupTenant()
	s := e.visitor(key)
	conv := s.Conversation.ID
	agentTok := e.token("agent-1", chorus.RoleAgent)

	e.ws = "ws://" + gwB.addr
	agent := e.mustDial("/ws/v1/agent", agentTok)
	e.base = "http://" + procs[1].addr // the other chat process
	e.must(e.call("POST", "/api/v1/conversations/"+conv+"/accept", agentTok, nil), 200)
	agent.nextWhere("conversation", func(f map[string]any) bool { return f["conversation"].(map[string]any)["status"] == "active" })

	e.ws = "ws://" + gwA.addr
	visitor := e.mustDial("/ws/v1/conversations/"+conv, s.Token)
	time.Sleep(200 * time.Millisecond) // the agent stream follows the conversation after the accept event

	visitor.send(map[string]any{"type": "message.send", "client_msg_id": "v1", "body": "hello from gateway A"})
	visitor.next("message.ack")
	if m := agent.next("message"); msgOf(m)["body"] != "hello from gateway A" {
		t.Fatalf("agent got %v", m)
	}
	// Gateway B wrote it to the agent: the visitor on gateway A sees "delivered"
	// (awaited before anything else, since next() skips the frames it passes).
	if r := visitor.nextWhere("receipt", func(f map[string]any) bool { return f["kind"] == "delivered" }); num(r["seq"]) != 1 {
		t.Fatalf("delivered receipt = %v", r)
	}
	agent.send(map[string]any{"type": "typing", "conversation_id": conv, "active": true})
	visitor.next("typing")
	agent.send(map[string]any{"type": "message.send", "conversation_id": conv, "client_msg_id": "a1", "body": "hello from gateway B"})
	if m := visitor.next("message"); msgOf(m)["body"] != "hello from gateway B" || num(msgOf(m)["seq"]) != 2 {
		t.Fatalf("visitor got %v", m)
	}
	visitor.send(map[string]any{"type": "read", "seq": 2})
	if r := agent.nextWhere("receipt", func(f map[string]any) bool { return f["kind"] == "read" }); num(r["seq"]) != 2 {
		t.Fatalf("read receipt = %v", r)
	}
	// REST on a chat process reaches sockets on a gateway.
	e.must(e.call("POST", "/api/v1/conversations/"+conv+"/messages", agentTok, map[string]any{"client_msg_id": "a2", "body": "via REST"}), 201)
	if m := visitor.next("message"); msgOf(m)["body"] != "via REST" {
		t.Fatalf("visitor got %v", m)
	}
	// A role that is not running here answers 404.
	if r := (&env{t: t, base: "http://" + gwA.addr, tenant: e.tenant}).call("GET", "/api/v1/queue", agentTok, nil); r.status != 404 {
		t.Errorf("gateway served the REST API: %d", r.status)
	}
	// Each migration ran exactly once across the processes that raced.
	applied := map[string]int{}
	for _, p := range procs {
		for _, line := range strings.Split(p.out.String(), "\n") {
			if strings.Contains(line, "migration applied") {
				for _, f := range strings.Fields(line) {
					if strings.HasPrefix(f, "version=") {
						applied[f]++
					}
				}
			}
		}
	}
	if len(applied) == 0 {
		t.Error("no process logged an applied migration")
	}
	for v, n := range applied {
		if n != 1 {
			t.Errorf("migration %s applied %d times across processes", v, n)
		}
	}
}

// TestSplitRoleNeedsServices: a split role without PostgreSQL and Redis
// exits non-zero naming both; an unknown role lists the valid ones.
func TestSplitRoleNeedsServices(t *testing.T) {
	t.Parallel()
	bin := chorusBinary(t)
	out, err := exec.Command(bin, "--roles=gateway", "--data-dir="+t.TempDir()).CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("PostgreSQL")) || !bytes.Contains(out, []byte("Redis")) {
		t.Errorf("--roles=gateway: %v %s", err, out)
	}
	out, err = exec.Command(bin, "--roles=bogus").CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("valid roles: all, gateway, chat, presence, summary, notify, web")) {
		t.Errorf("--roles=bogus: %v %s", err, out)
	}
}
