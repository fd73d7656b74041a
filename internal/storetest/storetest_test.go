package storetest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
	"github.com/enkisys/chorus/internal/sqlite"
	"github.com/enkisys/chorus/internal/storetest"
)

const envMutant = "STORETEST_MUTANT"

func openSQLite(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "chorus.db"), chorustest.Logger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// mutants are stores with one deliberate defect each, and the subtests of
// the suite that must catch it.
var mutants = map[string]struct {
	wrap    func(chorus.Store) chorus.Store
	catches []string
}{
	"NilNotFound": {func(s chorus.Store) chorus.Store { return nilNotFound{Store: s} }, []string{"TenantGetNotFound"}},
	"NoTenantFilter": {func(s chorus.Store) chorus.Store { return &noTenantFilter{Store: s} },
		[]string{"ConversationTenantIsolation"}},
	"CreatedAlwaysTrue": {func(s chorus.Store) chorus.Store { return createdAlwaysTrue{Store: s} },
		[]string{"MessageCreateIdempotent", "MessageCreateConcurrent"}},
	"SeqGap": {func(s chorus.Store) chorus.Store { return seqGap{Store: s} }, []string{"MessageCreateSeq"}},
	"ReceiptAlwaysMoves": {func(s chorus.Store) chorus.Store { return receiptAlwaysMoves{Store: s} },
		[]string{"MessageMarkReceipt"}},
	"PageGap": {func(s chorus.Store) chorus.Store { return pageGap{Store: s} }, []string{"ConversationListPagination"}},
}

// TestSuiteCatchesDefects runs the suite against each mutant in a child
// process and checks that the expected subtests fail: the suite can fail.
func TestSuiteCatchesDefects(t *testing.T) {
	if os.Getenv(envMutant) != "" {
		t.Skip("in a mutant child process")
	}
	for name, m := range mutants {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run := "^TestMutant$/^(" + strings.Join(m.catches, "|") + ")$"
			cmd := exec.Command(os.Args[0], "-test.run", run, "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), envMutant+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed against mutant %s:\n%s", name, out)
			}
			for _, sub := range m.catches {
				if !regexp.MustCompile(`--- FAIL: TestMutant/` + sub + ` `).Match(out) {
					t.Errorf("subtest %s did not fail against mutant %s:\n%s", sub, name, out)
				}
			}
		})
	}
}

// TestMutant is the child side of TestSuiteCatchesDefects.
func TestMutant(t *testing.T) {
	name := os.Getenv(envMutant)
	if name == "" {
		t.Skip("run by TestSuiteCatchesDefects")
	}
	m := mutants[name]
	storetest.Run(t, func(t *testing.T) chorus.Store { return m.wrap(openSQLite(t)) })
}

// TestSQLite runs the suite against the real SQLite store (the mutants'
// base), so the suite itself is known to pass on a correct store.
func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) chorus.Store { return openSQLite(t) })
}

func TestBenchMessageCreate(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := openSQLite(t)
	r := testing.Benchmark(func(b *testing.B) { storetest.BenchMessageCreate(b, s) })
	if r.N == 0 {
		t.Fatal("benchmark did not run")
	}
	// Every round's messages were stored (the outbox has one row per message).
	ev, err := s.OutboxFetch(context.Background(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	msgs := 0
	for _, e := range ev {
		if e.Kind == chorus.OutboxMessageCreated {
			msgs++
		}
	}
	if msgs < r.N {
		t.Errorf("after the benchmark: %d messages stored, want at least b.N = %d", msgs, r.N)
	}
}

type nilNotFound struct{ chorus.Store }

func (s nilNotFound) TenantGet(ctx context.Context, id string) (chorus.Tenant, error) {
	t, err := s.Store.TenantGet(ctx, id)
	if chorus.ErrorCode(err) == chorus.ENOTFOUND {
		return chorus.Tenant{}, nil
	}
	return t, err
}

// noTenantFilter forgets the tenant on ConversationGet: it looks in every
// tenant it has seen.
type noTenantFilter struct {
	chorus.Store
	mu      sync.Mutex
	tenants []string
}

func (s *noTenantFilter) TenantEnsure(ctx context.Context, id, name string) (chorus.Tenant, error) {
	s.mu.Lock()
	s.tenants = append(s.tenants, id)
	s.mu.Unlock()
	return s.Store.TenantEnsure(ctx, id, name)
}

func (s *noTenantFilter) ConversationGet(ctx context.Context, tenantID, id string) (chorus.Conversation, error) {
	c, err := s.Store.ConversationGet(ctx, tenantID, id)
	if chorus.ErrorCode(err) != chorus.ENOTFOUND {
		return c, err
	}
	s.mu.Lock()
	tenants := append([]string(nil), s.tenants...)
	s.mu.Unlock()
	for _, tn := range tenants {
		if c, err := s.Store.ConversationGet(ctx, tn, id); err == nil {
			return c, nil
		}
	}
	return c, err
}

type createdAlwaysTrue struct{ chorus.Store }

func (s createdAlwaysTrue) MessageCreate(ctx context.Context, tenantID string, m chorus.NewMessage) (chorus.Message, bool, error) {
	msg, _, err := s.Store.MessageCreate(ctx, tenantID, m)
	return msg, err == nil, err
}

// seqGap consumes an extra seq after every new message.
type seqGap struct{ chorus.Store }

func (s seqGap) MessageCreate(ctx context.Context, tenantID string, m chorus.NewMessage) (chorus.Message, bool, error) {
	msg, created, err := s.Store.MessageCreate(ctx, tenantID, m)
	if created {
		extra := m
		extra.ID, extra.ClientMsgID = m.ID+"-gap", m.ClientMsgID+"-gap"
		_, _, _ = s.Store.MessageCreate(ctx, tenantID, extra)
	}
	return msg, created, err
}

type receiptAlwaysMoves struct{ chorus.Store }

func (s receiptAlwaysMoves) MessageMarkReceipt(ctx context.Context, tenantID, conversationID string, reader chorus.Actor, kind string, seq int64, at time.Time) (int64, bool, error) {
	wm, _, err := s.Store.MessageMarkReceipt(ctx, tenantID, conversationID, reader, kind, seq, at)
	return wm, err == nil, err
}

// pageGap drops the last item of every page that has a successor.
type pageGap struct{ chorus.Store }

func (s pageGap) ConversationList(ctx context.Context, tenantID string, f chorus.ConversationFilter) ([]chorus.Conversation, string, error) {
	list, next, err := s.Store.ConversationList(ctx, tenantID, f)
	if next != "" && len(list) > 1 {
		list = list[:len(list)-1]
	}
	return list, next, err
}
