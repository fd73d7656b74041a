package module

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type recSvc struct {
	name string
	log  *[]string
	mu   *sync.Mutex
	fail chan error
	err  error
}

func (s *recSvc) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	*s.log = append(*s.log, "start "+s.name)
	return s.err
}

func (s *recSvc) Stop(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	*s.log = append(*s.log, "stop "+s.name)
	return nil
}

func (s *recSvc) Failed() <-chan error { return s.fail }

func setup(t *testing.T) (*Manager, *[]string, map[string]*recSvc) {
	t.Helper()
	m := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var log []string
	var mu sync.Mutex
	svcs := map[string]*recSvc{}
	for _, n := range []string{"store", "bus", "server", "chat", "gateway", "all"} {
		s := &recSvc{name: n, log: &log, mu: &mu, fail: make(chan error, 1)}
		svcs[n] = s
		m.Register(n, func() (Service, error) { return s, nil }, n == "store" || n == "bus" || n == "server")
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.AddDependency("bus", "store"))
	must(m.AddDependency("chat", "server", "store", "bus"))
	must(m.AddDependency("gateway", "server", "bus", "chat"))
	must(m.AddDependency("all", "chat", "gateway"))
	return m, &log, svcs
}

func TestResolveOrder(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t)
	order, err := m.Resolve("gateway")
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	for n, e := range m.modules {
		if _, ok := pos[n]; !ok {
			continue
		}
		for _, d := range e.deps {
			if pos[d] > pos[n] {
				t.Errorf("%s starts before its dependency %s: %v", n, d, order)
			}
		}
	}
	if slices.Contains(order, "all") {
		t.Errorf("gateway pulled in all: %v", order)
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	m, _, _ := setup(t)
	if _, err := m.Resolve("bogus"); err == nil || !strings.Contains(err.Error(), "valid roles: [all chat gateway]") {
		t.Errorf("unknown role error = %v", err)
	}
	if err := m.CheckTargets("chat", "store"); err == nil || !strings.Contains(err.Error(), `unknown role "store"`) {
		t.Errorf("an invisible module was accepted as a role: %v", err)
	}
	if err := m.CheckTargets("chat", "gateway"); err != nil {
		t.Error(err)
	}
	if err := m.AddDependency("nope", "store"); err == nil {
		t.Error("dependency of unknown module accepted")
	}
	if err := m.AddDependency("chat", "nope"); err == nil {
		t.Error("unknown dependency accepted")
	}
	if err := m.AddDependency("store", "gateway"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Resolve("gateway"); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle not detected: %v", err)
	}
}

func TestRunStartsInOrderAndStopsInReverse(t *testing.T) {
	t.Parallel()
	m, log, _ := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx, time.Second, "gateway") }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := []string{"start store", "start bus", "start server", "start chat", "start gateway",
		"stop gateway", "stop chat", "stop server", "stop bus", "stop store"}
	if !slices.Equal(*log, want) {
		t.Errorf("log = %v\nwant %v", *log, want)
	}
}

func TestRunFailureStopsEverything(t *testing.T) {
	t.Parallel()
	m, log, svcs := setup(t)
	done := make(chan error)
	go func() { done <- m.Run(context.Background(), time.Second, "chat") }()
	time.Sleep(50 * time.Millisecond)
	svcs["bus"].fail <- errors.New("redis gone")
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "bus failed: redis gone") {
		t.Fatalf("err = %v", err)
	}
	if (*log)[len(*log)-1] != "stop store" {
		t.Errorf("not stopped in reverse: %v", *log)
	}
}

func TestRunStartError(t *testing.T) {
	t.Parallel()
	m, log, svcs := setup(t)
	svcs["chat"].err = errors.New("boom")
	err := m.Run(context.Background(), time.Second, "gateway")
	if err == nil || !strings.Contains(err.Error(), "start chat: boom") {
		t.Fatalf("err = %v", err)
	}
	if slices.Contains(*log, "start gateway") {
		t.Error("gateway started after chat failed")
	}
	if (*log)[len(*log)-1] != "stop store" {
		t.Errorf("started services not stopped: %v", *log)
	}
}

func TestRunInitErrorAndNilService(t *testing.T) {
	t.Parallel()
	m := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	stopped := false
	m.Register("a", func() (Service, error) {
		return FuncService{StopFunc: func(context.Context) error { stopped = true; return nil }}, nil
	}, true)
	m.Register("lib", func() (Service, error) { return nil, nil }, true)
	m.Register("b", func() (Service, error) { return nil, errors.New("bad config") }, false)
	_ = m.AddDependency("b", "a", "lib")
	err := m.Run(context.Background(), time.Second, "b")
	if err == nil || !strings.Contains(err.Error(), "init b: bad config") {
		t.Fatalf("err = %v", err)
	}
	if !stopped {
		t.Error("a was not stopped")
	}
	var f FuncService
	if f.Start(context.Background()) != nil || f.Stop(context.Background()) != nil {
		t.Error("empty FuncService failed")
	}
}
