package storetest

import (
	"context"
	"maps"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
)

func testTenantEnsure(t *testing.T, s chorus.Store) {
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	id := newID("tenant")
	tn, err := s.TenantEnsure(ctx, id, "Acme")
	must(t, err, "TenantEnsure")
	if tn.ID != id || tn.Name != "Acme" {
		t.Errorf("TenantEnsure = %+v, want id %q name Acme", tn, id)
	}
	if tn.CreatedAt.Before(before) || tn.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("created_at = %v, want about now", tn.CreatedAt)
	}
	again, err := s.TenantEnsure(ctx, id, "Other name")
	must(t, err, "TenantEnsure again")
	if again.Name != "Acme" || !again.CreatedAt.Equal(tn.CreatedAt) {
		t.Errorf("second TenantEnsure = %+v, want the unchanged %+v", again, tn)
	}
	got, err := s.TenantGet(ctx, id)
	must(t, err, "TenantGet")
	if got.ID != id || got.Name != "Acme" || !got.CreatedAt.Equal(tn.CreatedAt) {
		t.Errorf("TenantGet = %+v, want %+v", got, tn)
	}
}

func testTenantGetNotFound(t *testing.T, s chorus.Store) {
	_, err := s.TenantGet(context.Background(), "no-such-tenant")
	wantCode(t, err, chorus.ENOTFOUND, "TenantGet unknown")
}

func testAgentEnsureCreates(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	a, err := s.AgentEnsure(ctx, w.tenant, chorus.Agent{ID: "sub-1", Name: "Ann", Email: "ann@example.com", Roles: []string{chorus.RoleAgent}})
	must(t, err, "AgentEnsure")
	want := chorus.Agent{ID: "sub-1", TenantID: w.tenant, Name: "Ann", Email: "ann@example.com",
		Roles: []string{chorus.RoleAgent}, Status: chorus.AgentOffline, Capacity: chorus.CapacityDefault}
	eqAgent(t, "AgentEnsure", a, want)
	if a.CreatedAt.IsZero() {
		t.Error("created_at is zero")
	}
	got, err := s.AgentGet(ctx, w.tenant, "sub-1")
	must(t, err, "AgentGet")
	eqAgent(t, "AgentGet", got, want)

	b, err := s.AgentEnsure(ctx, w.tenant, chorus.Agent{ID: "sub-2", Capacity: 2})
	must(t, err, "AgentEnsure with capacity")
	if b.Capacity != 2 || b.Status != chorus.AgentOffline || len(b.Roles) != 0 {
		t.Errorf("AgentEnsure capacity 2 = %+v", b)
	}
}

func testAgentEnsureUpdates(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	first, err := s.AgentEnsure(ctx, w.tenant, chorus.Agent{ID: "sub-1", Name: "Ann", Email: "ann@example.com", Roles: []string{chorus.RoleAgent}})
	must(t, err, "AgentEnsure")
	_, err = s.AgentSetStatus(ctx, w.tenant, "sub-1", chorus.AgentOnline)
	must(t, err, "AgentSetStatus")

	// Same input: nothing changes (status set meanwhile is kept).
	same, err := s.AgentEnsure(ctx, w.tenant, chorus.Agent{ID: "sub-1", Name: "Ann", Email: "ann@example.com", Roles: []string{chorus.RoleAgent}})
	must(t, err, "AgentEnsure same")
	eqAgent(t, "AgentEnsure same", same, chorus.Agent{ID: "sub-1", TenantID: w.tenant, Name: "Ann",
		Email: "ann@example.com", Roles: []string{chorus.RoleAgent}, Status: chorus.AgentOnline, Capacity: chorus.CapacityDefault})
	if !same.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("created_at changed: %v → %v", first.CreatedAt, same.CreatedAt)
	}

	// Empty fields never erase.
	empty, err := s.AgentEnsure(ctx, w.tenant, chorus.Agent{ID: "sub-1"})
	must(t, err, "AgentEnsure empty")
	eqAgent(t, "AgentEnsure empty", empty, same)

	// Non-empty different fields update.
	upd, err := s.AgentEnsure(ctx, w.tenant, chorus.Agent{ID: "sub-1", Name: "Ann B", Email: "annb@example.com",
		Roles: []string{chorus.RoleAgent, chorus.RoleSupervisor}})
	must(t, err, "AgentEnsure update")
	want := chorus.Agent{ID: "sub-1", TenantID: w.tenant, Name: "Ann B", Email: "annb@example.com",
		Roles: []string{chorus.RoleAgent, chorus.RoleSupervisor}, Status: chorus.AgentOnline, Capacity: chorus.CapacityDefault}
	eqAgent(t, "AgentEnsure update", upd, want)
	got, err := s.AgentGet(ctx, w.tenant, "sub-1")
	must(t, err, "AgentGet")
	eqAgent(t, "AgentGet after update", got, want)
	// The new e-mail is the one credentials find.
	_, _, err = s.AgentCredentials(ctx, w.tenant, "ann@example.com")
	wantCode(t, err, chorus.ENOTFOUND, "AgentCredentials old e-mail")
	_, _, err = s.AgentCredentials(ctx, w.tenant, "ANNB@example.com")
	must(t, err, "AgentCredentials new e-mail")

	// Taking another agent's e-mail is a conflict.
	_, err = s.AgentEnsure(ctx, w.tenant, chorus.Agent{ID: "sub-2", Email: "bob@example.com"})
	must(t, err, "AgentEnsure sub-2")
	_, err = s.AgentEnsure(ctx, w.tenant, chorus.Agent{ID: "sub-2", Email: "AnnB@Example.com"})
	wantCode(t, err, chorus.ECONFLICT, "AgentEnsure taking another agent's e-mail")
	got, err = s.AgentGet(ctx, w.tenant, "sub-2")
	must(t, err, "AgentGet sub-2")
	if got.Email != "bob@example.com" {
		t.Errorf("e-mail after refused update = %q, want bob@example.com", got.Email)
	}
}

func testAgentEnsureUnknownTenant(t *testing.T, s chorus.Store) {
	_, err := s.AgentEnsure(context.Background(), "no-such-tenant", chorus.Agent{ID: "sub-1"})
	if err == nil {
		t.Fatal("AgentEnsure in a tenant that does not exist succeeded")
	}
}

func testAgentCreateConflicts(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	a, err := s.AgentCreate(ctx, w.tenant, chorus.Agent{ID: "a1", Name: "Ann", Email: "Ann@Example.com",
		Roles: []string{chorus.RoleAdmin}, Capacity: 3, CreatedAt: t0}, "hash-1")
	must(t, err, "AgentCreate")
	eqAgent(t, "AgentCreate", a, chorus.Agent{ID: "a1", TenantID: w.tenant, Name: "Ann", Email: "Ann@Example.com",
		Roles: []string{chorus.RoleAdmin}, Status: chorus.AgentOffline, Capacity: 3})

	_, err = s.AgentCreate(ctx, w.tenant, chorus.Agent{ID: "a1", Email: "x@example.com"}, "")
	wantCode(t, err, chorus.ECONFLICT, "AgentCreate duplicate id")
	_, err = s.AgentCreate(ctx, w.tenant, chorus.Agent{ID: "a2", Email: "ann@EXAMPLE.com"}, "")
	wantCode(t, err, chorus.ECONFLICT, "AgentCreate duplicate e-mail, other case")
	_, err = s.AgentGet(ctx, w.tenant, "a2")
	wantCode(t, err, chorus.ENOTFOUND, "AgentGet after refused create")

	// Same id and e-mail in another tenant is fine; agents without e-mail never clash.
	_, err = s.AgentCreate(ctx, other.tenant, chorus.Agent{ID: "a1", Email: "ann@example.com"}, "")
	must(t, err, "AgentCreate same e-mail other tenant")
	_, err = s.AgentCreate(ctx, w.tenant, chorus.Agent{ID: "a3"}, "")
	must(t, err, "AgentCreate without e-mail")
	_, err = s.AgentCreate(ctx, w.tenant, chorus.Agent{ID: "a4"}, "")
	must(t, err, "AgentCreate second without e-mail")
}

func testAgentGetCountsActive(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	w.agent(t, "a1")
	w.agent(t, "a2")
	w.conv(t, chorus.StatusActive, ptr("a1"), at(1))
	w.conv(t, chorus.StatusActive, ptr("a1"), at(2))
	w.conv(t, chorus.StatusClosed, ptr("a1"), at(3))
	w.conv(t, chorus.StatusQueued, nil, at(4))
	w.conv(t, chorus.StatusActive, ptr("a2"), at(5))
	a, err := s.AgentGet(ctx, w.tenant, "a1")
	must(t, err, "AgentGet")
	if a.ActiveConversations != 2 {
		t.Errorf("a1 active_conversations = %d, want 2", a.ActiveConversations)
	}
	list, err := s.AgentList(ctx, w.tenant)
	must(t, err, "AgentList")
	counts := map[string]int{}
	for _, a := range list {
		counts[a.ID] = a.ActiveConversations
	}
	if !maps.Equal(counts, map[string]int{"a1": 2, "a2": 1}) {
		t.Errorf("AgentList active counts = %v, want a1:2 a2:1", counts)
	}
}

func testAgentListOrder(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	for _, a := range []chorus.Agent{{ID: "z", Name: "Bea"}, {ID: "b", Name: "Cy"}, {ID: "y", Name: "Ann"}, {ID: "a", Name: "Bea"}} {
		_, err := s.AgentEnsure(ctx, w.tenant, a)
		must(t, err, "AgentEnsure "+a.ID)
	}
	_, err := s.AgentEnsure(ctx, other.tenant, chorus.Agent{ID: "o", Name: "Other"})
	must(t, err, "AgentEnsure other tenant")
	list, err := s.AgentList(ctx, w.tenant)
	must(t, err, "AgentList")
	eqIDs(t, "AgentList ids", ids(list, func(a chorus.Agent) string { return a.ID }), []string{"y", "a", "z", "b"})
	for _, a := range list {
		if a.TenantID != w.tenant {
			t.Errorf("agent %s tenant_id = %q", a.ID, a.TenantID)
		}
	}
	empty, err := s.AgentList(ctx, "no-such-tenant")
	must(t, err, "AgentList unknown tenant")
	if len(empty) != 0 {
		t.Errorf("AgentList unknown tenant = %d agents", len(empty))
	}
}

func testAgentCredentials(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	_, err := s.AgentCreate(ctx, w.tenant, chorus.Agent{ID: "a1", Name: "Ann", Email: "Ann@Example.com"}, "hash-1")
	must(t, err, "AgentCreate")
	_, err = s.AgentCreate(ctx, w.tenant, chorus.Agent{ID: "a2", Name: "Bob", Email: "bob@example.com"}, "")
	must(t, err, "AgentCreate no password")
	a, hash, err := s.AgentCredentials(ctx, w.tenant, "ann@example.COM")
	must(t, err, "AgentCredentials")
	if a.ID != "a1" || hash != "hash-1" || a.TenantID != w.tenant {
		t.Errorf("AgentCredentials = %+v, %q; want a1, hash-1", a, hash)
	}
	a, hash, err = s.AgentCredentials(ctx, w.tenant, "bob@example.com")
	must(t, err, "AgentCredentials no password")
	if a.ID != "a2" || hash != "" {
		t.Errorf("AgentCredentials = %+v, %q; want a2 and no hash", a, hash)
	}
	_, _, err = s.AgentCredentials(ctx, w.tenant, "nobody@example.com")
	wantCode(t, err, chorus.ENOTFOUND, "AgentCredentials unknown e-mail")
	_, _, err = s.AgentCredentials(ctx, w.tenant, "")
	wantCode(t, err, chorus.ENOTFOUND, "AgentCredentials empty e-mail")
}

func testAgentSetStatus(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	w.agent(t, "a1")
	w.conv(t, chorus.StatusActive, ptr("a1"), at(1))
	a, err := s.AgentSetStatus(ctx, w.tenant, "a1", chorus.AgentOnline)
	must(t, err, "AgentSetStatus online")
	if a.Status != chorus.AgentOnline || a.ID != "a1" || a.ActiveConversations != 1 {
		t.Errorf("AgentSetStatus = %+v, want online with 1 active conversation", a)
	}
	_, err = s.AgentSetStatus(ctx, w.tenant, "a1", chorus.AgentAway)
	must(t, err, "AgentSetStatus away")
	got, err := s.AgentGet(ctx, w.tenant, "a1")
	must(t, err, "AgentGet")
	if got.Status != chorus.AgentAway {
		t.Errorf("status = %q, want away", got.Status)
	}
	_, err = s.AgentSetStatus(ctx, w.tenant, "nobody", chorus.AgentOnline)
	wantCode(t, err, chorus.ENOTFOUND, "AgentSetStatus unknown agent")
	_, err = s.AgentSetStatus(ctx, w.tenant, "a1", "dancing")
	if err == nil {
		t.Error("AgentSetStatus with an unknown status succeeded")
	}
	h, ok := s.(StatusHistorian)
	if !ok {
		t.Log("store does not implement storetest.StatusHistorian: availability history not checked")
		return
	}
	hist, err := h.AgentStatusHistory(ctx, w.tenant, "a1")
	must(t, err, "AgentStatusHistory")
	eqIDs(t, "availability history", hist, []string{chorus.AgentOnline, chorus.AgentAway})
}

func testAgentSetPassword(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	_, err := s.AgentCreate(ctx, w.tenant, chorus.Agent{ID: "a1", Email: "ann@example.com"}, "")
	must(t, err, "AgentCreate")
	must(t, s.AgentSetPassword(ctx, w.tenant, "a1", "hash-2"), "AgentSetPassword")
	_, hash, err := s.AgentCredentials(ctx, w.tenant, "ann@example.com")
	must(t, err, "AgentCredentials")
	if hash != "hash-2" {
		t.Errorf("hash = %q, want hash-2", hash)
	}
	wantCode(t, s.AgentSetPassword(ctx, w.tenant, "nobody", "h"), chorus.ENOTFOUND, "AgentSetPassword unknown agent")
}

func testAgentTenantIsolation(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	_, err := s.AgentCreate(ctx, w.tenant, chorus.Agent{ID: "a1", Email: "ann@example.com"}, "hash")
	must(t, err, "AgentCreate")
	_, err = s.AgentGet(ctx, other.tenant, "a1")
	wantCode(t, err, chorus.ENOTFOUND, "AgentGet other tenant")
	_, _, err = s.AgentCredentials(ctx, other.tenant, "ann@example.com")
	wantCode(t, err, chorus.ENOTFOUND, "AgentCredentials other tenant")
	_, err = s.AgentSetStatus(ctx, other.tenant, "a1", chorus.AgentOnline)
	wantCode(t, err, chorus.ENOTFOUND, "AgentSetStatus other tenant")
	wantCode(t, s.AgentSetPassword(ctx, other.tenant, "a1", "evil"), chorus.ENOTFOUND, "AgentSetPassword other tenant")
	list, err := s.AgentList(ctx, other.tenant)
	must(t, err, "AgentList other tenant")
	if len(list) != 0 {
		t.Errorf("AgentList other tenant = %v", list)
	}
	a, hash, err := s.AgentCredentials(ctx, w.tenant, "ann@example.com")
	must(t, err, "AgentCredentials")
	if hash != "hash" || a.Status != chorus.AgentOffline {
		t.Errorf("after other tenant's calls: %+v hash %q, want offline and unchanged hash", a, hash)
	}
}

func eqAgent(t *testing.T, what string, got, want chorus.Agent) {
	t.Helper()
	if got.ID != want.ID || got.TenantID != want.TenantID || got.Name != want.Name || got.Email != want.Email ||
		got.Status != want.Status || got.Capacity != want.Capacity || got.ActiveConversations != want.ActiveConversations ||
		!slices.Equal(got.Roles, want.Roles) && (len(got.Roles) != 0 || len(want.Roles) != 0) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func testChannels(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := chorus.Channel{ID: newID("chan"), Type: chorus.ChannelWebWidget, Name: "Shop",
		WidgetKey: newID("wk"), AllowedOrigins: []string{"https://a.example", "https://b.example"}, CreatedAt: at(1)}
	got, err := s.ChannelCreate(ctx, w.tenant, c)
	must(t, err, "ChannelCreate")
	c.TenantID = w.tenant
	eqChannel(t, "ChannelCreate", got, c)
	got, err = s.ChannelGet(ctx, w.tenant, c.ID)
	must(t, err, "ChannelGet")
	eqChannel(t, "ChannelGet", got, c)
	got, err = s.ChannelByWidgetKey(ctx, c.WidgetKey)
	must(t, err, "ChannelByWidgetKey")
	eqChannel(t, "ChannelByWidgetKey", got, c)
	_, err = s.ChannelByWidgetKey(ctx, "no-such-key")
	wantCode(t, err, chorus.ENOTFOUND, "ChannelByWidgetKey unknown")
	_, err = s.ChannelGet(ctx, w.tenant, "no-such-channel")
	wantCode(t, err, chorus.ENOTFOUND, "ChannelGet unknown")

	// A channel without widget key and without origins.
	bare, err := s.ChannelCreate(ctx, w.tenant, chorus.Channel{ID: newID("chan"), Type: chorus.ChannelWebWidget, Name: "API", CreatedAt: at(2)})
	must(t, err, "ChannelCreate bare")
	if bare.WidgetKey != "" || len(bare.AllowedOrigins) != 0 {
		t.Errorf("bare channel = %+v", bare)
	}
	_, err = s.ChannelCreate(ctx, w.tenant, chorus.Channel{ID: newID("chan"), Type: chorus.ChannelWebWidget, Name: "API 2", CreatedAt: at(3)})
	must(t, err, "second channel without widget key")

	list, err := s.ChannelList(ctx, w.tenant)
	must(t, err, "ChannelList")
	gotIDs := ids(list, func(c chorus.Channel) string { return c.ID })
	sort.Strings(gotIDs)
	if len(gotIDs) != 4 || !slices.Contains(gotIDs, c.ID) || !slices.Contains(gotIDs, w.channel.ID) || !slices.Contains(gotIDs, bare.ID) {
		t.Errorf("ChannelList = %v, want the 4 channels of the tenant", gotIDs)
	}
}

func testChannelConflicts(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	_, err := s.ChannelCreate(ctx, w.tenant, chorus.Channel{ID: w.channel.ID, Type: chorus.ChannelWebWidget, Name: "dup", CreatedAt: t0})
	wantCode(t, err, chorus.ECONFLICT, "ChannelCreate duplicate id")
	// Widget keys are unique across tenants.
	_, err = s.ChannelCreate(ctx, other.tenant, chorus.Channel{ID: newID("chan"), Type: chorus.ChannelWebWidget, Name: "dup key",
		WidgetKey: w.channel.WidgetKey, CreatedAt: t0})
	wantCode(t, err, chorus.ECONFLICT, "ChannelCreate duplicate widget key in another tenant")
	_, err = s.ChannelCreate(ctx, "no-such-tenant", chorus.Channel{ID: newID("chan"), Type: chorus.ChannelWebWidget, Name: "x", CreatedAt: t0})
	if err == nil {
		t.Error("ChannelCreate in a tenant that does not exist succeeded")
	}
}

func testChannelTenantIsolation(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	_, err := s.ChannelGet(ctx, other.tenant, w.channel.ID)
	wantCode(t, err, chorus.ENOTFOUND, "ChannelGet other tenant")
	list, err := s.ChannelList(ctx, other.tenant)
	must(t, err, "ChannelList")
	if len(list) != 1 || list[0].ID != other.channel.ID {
		t.Errorf("ChannelList other tenant = %v, want only its own channel", list)
	}
	// The widget key lookup is the one cross-tenant lookup; it reports the owner.
	got, err := s.ChannelByWidgetKey(ctx, w.channel.WidgetKey)
	must(t, err, "ChannelByWidgetKey")
	if got.TenantID != w.tenant || got.ID != w.channel.ID {
		t.Errorf("ChannelByWidgetKey = %+v, want tenant %s", got, w.tenant)
	}
}

func eqChannel(t *testing.T, what string, got, want chorus.Channel) {
	t.Helper()
	if got.ID != want.ID || got.TenantID != want.TenantID || got.Type != want.Type || got.Name != want.Name ||
		got.WidgetKey != want.WidgetKey || !slices.Equal(got.AllowedOrigins, want.AllowedOrigins) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	eqTime(t, what+" created_at", got.CreatedAt, want.CreatedAt)
}

func testContacts(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := chorus.Contact{ID: newID("contact"), Name: "Zoë", Email: "zoe@example.com",
		Metadata: map[string]string{"plan": "pro", "page": "/pricing"}, CreatedAt: at(9)}
	got, err := s.ContactCreate(ctx, w.tenant, c)
	must(t, err, "ContactCreate")
	c.TenantID = w.tenant
	eqContact(t, "ContactCreate", got, c)
	got, err = s.ContactGet(ctx, w.tenant, c.ID)
	must(t, err, "ContactGet")
	eqContact(t, "ContactGet", got, c)
	_, err = s.ContactCreate(ctx, w.tenant, chorus.Contact{ID: c.ID, CreatedAt: t0})
	wantCode(t, err, chorus.ECONFLICT, "ContactCreate duplicate id")
	_, err = s.ContactGet(ctx, w.tenant, "no-such-contact")
	wantCode(t, err, chorus.ENOTFOUND, "ContactGet unknown")
	bare, err := s.ContactCreate(ctx, w.tenant, chorus.Contact{ID: newID("contact"), CreatedAt: t0})
	must(t, err, "ContactCreate bare")
	got, err = s.ContactGet(ctx, w.tenant, bare.ID)
	must(t, err, "ContactGet bare")
	if got.Name != "" || got.Email != "" || len(got.Metadata) != 0 {
		t.Errorf("bare contact = %+v", got)
	}
}

func testContactIdentities(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	second := w.newContact(t)
	must(t, s.ContactIdentitySet(ctx, w.tenant, w.contact.ID, w.channel.ID, chorus.IdentityResumeToken, "h1"), "ContactIdentitySet")
	must(t, s.ContactIdentitySet(ctx, w.tenant, second.ID, w.channel.ID, chorus.IdentityResumeToken, "h2"), "ContactIdentitySet second")
	must(t, s.ContactIdentitySet(ctx, w.tenant, second.ID, w.channel.ID, chorus.IdentityEmail, "h1"), "same value, other kind")
	got, err := s.ContactByIdentity(ctx, w.tenant, w.channel.ID, chorus.IdentityResumeToken, "h1")
	must(t, err, "ContactByIdentity h1")
	if got.ID != w.contact.ID || got.TenantID != w.tenant {
		t.Errorf("ContactByIdentity h1 = %+v, want %s", got, w.contact.ID)
	}
	got, err = s.ContactByIdentity(ctx, w.tenant, w.channel.ID, chorus.IdentityEmail, "h1")
	must(t, err, "ContactByIdentity email h1")
	if got.ID != second.ID {
		t.Errorf("ContactByIdentity email h1 = %s, want %s", got.ID, second.ID)
	}
	_, err = s.ContactByIdentity(ctx, w.tenant, w.channel.ID, chorus.IdentityResumeToken, "nope")
	wantCode(t, err, chorus.ENOTFOUND, "ContactByIdentity unknown value")
	// The same identity cannot belong to a second contact.
	err = s.ContactIdentitySet(ctx, w.tenant, second.ID, w.channel.ID, chorus.IdentityResumeToken, "h1")
	wantCode(t, err, chorus.ECONFLICT, "ContactIdentitySet taken identity")
	got, err = s.ContactByIdentity(ctx, w.tenant, w.channel.ID, chorus.IdentityResumeToken, "h1")
	must(t, err, "ContactByIdentity h1 after conflict")
	if got.ID != w.contact.ID {
		t.Errorf("identity moved to %s after a conflict", got.ID)
	}
	// Unknown contact or channel.
	err = s.ContactIdentitySet(ctx, w.tenant, "no-such-contact", w.channel.ID, chorus.IdentityResumeToken, "h3")
	wantCode(t, err, chorus.ENOTFOUND, "ContactIdentitySet unknown contact")
	err = s.ContactIdentitySet(ctx, w.tenant, w.contact.ID, "no-such-channel", chorus.IdentityResumeToken, "h3")
	wantCode(t, err, chorus.ENOTFOUND, "ContactIdentitySet unknown channel")
}

func testContactTenantIsolation(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	must(t, s.ContactIdentitySet(ctx, w.tenant, w.contact.ID, w.channel.ID, chorus.IdentityResumeToken, "h1"), "ContactIdentitySet")
	_, err := s.ContactGet(ctx, other.tenant, w.contact.ID)
	wantCode(t, err, chorus.ENOTFOUND, "ContactGet other tenant")
	_, err = s.ContactByIdentity(ctx, other.tenant, w.channel.ID, chorus.IdentityResumeToken, "h1")
	wantCode(t, err, chorus.ENOTFOUND, "ContactByIdentity other tenant")
	// Another tenant cannot attach identities to this tenant's contact or channel.
	err = s.ContactIdentitySet(ctx, other.tenant, w.contact.ID, other.channel.ID, chorus.IdentityResumeToken, "h9")
	wantCode(t, err, chorus.ENOTFOUND, "ContactIdentitySet other tenant's contact")
	err = s.ContactIdentitySet(ctx, other.tenant, other.contact.ID, w.channel.ID, chorus.IdentityResumeToken, "h9")
	wantCode(t, err, chorus.ENOTFOUND, "ContactIdentitySet other tenant's channel")
	// The same identity value in another tenant is independent.
	must(t, s.ContactIdentitySet(ctx, other.tenant, other.contact.ID, other.channel.ID, chorus.IdentityResumeToken, "h1"), "same value other tenant")
}

func eqContact(t *testing.T, what string, got, want chorus.Contact) {
	t.Helper()
	if got.ID != want.ID || got.TenantID != want.TenantID || got.Name != want.Name || got.Email != want.Email ||
		!maps.Equal(got.Metadata, want.Metadata) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	eqTime(t, what+" created_at", got.CreatedAt, want.CreatedAt)
}
