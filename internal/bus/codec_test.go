package bus

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/enkisys/chorus/internal/chorus"
)

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   chorus.Event
	}{
		{"empty", chorus.Event{}},
		{"message", chorus.Event{Type: chorus.EventMessage, ConversationID: "0190a6b0-7c1e-7e2a-9f3d-1b2c3d4e5f60", Seq: 42, Origin: "conn-1", Data: []byte(`{"type":"message"}`)}},
		{"unknown type", chorus.Event{Type: "custom.thing", Data: []byte("x")}},
		{"negative and extreme seq", chorus.Event{Type: chorus.EventReceipt, Seq: math.MinInt64}},
		{"max seq", chorus.Event{Type: chorus.EventQueue, Seq: math.MaxInt64}},
		{"binary data", chorus.Event{Type: chorus.EventPresence, Data: []byte{0, 1, 0xff, 0x80}}},
		{"large data", chorus.Event{Type: chorus.EventConversation, Origin: strings.Repeat("o", 300), Data: []byte(strings.Repeat("d", 70000))}},
		{"resync", chorus.Event{Type: chorus.EventResync}},
		{"typing", chorus.Event{Type: chorus.EventTyping}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := appendEvent(nil, tt.ev)
			if n := len(p) - len(tt.ev.Data); n > 4+len(tt.ev.Type)+len(tt.ev.ConversationID)+len(tt.ev.Origin)+10+4 {
				t.Fatalf("header of %d bytes is not compact", n)
			}
			got, err := decodeEvent(string(p))
			if err != nil {
				t.Fatal(err)
			}
			if !equalEvent(got, tt.ev) {
				t.Fatalf("got %+v, want %+v", got, tt.ev)
			}
		})
	}
}

func TestCodecCorrupt(t *testing.T) {
	t.Parallel()
	valid := string(appendEvent(nil, chorus.Event{Type: chorus.EventMessage, ConversationID: "c", Seq: 7, Origin: "o", Data: []byte("{}")}))
	tests := []struct{ name, p string }{
		{"empty", ""},
		{"wrong version", "\x03" + valid[1:]},
		{"missing published time", valid[:1+1+7+2+1+2]}, // version, "message", "c", seq, "o"
		{"truncated type", valid[:3]},
		{"length beyond payload", "\x01\x7fab"},
		{"unterminated varint", "\x01\xff\xff"},
		{"overlong varint", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"},
		{"missing origin", string(appendEvent(nil, chorus.Event{}))[:3]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := decodeEvent(tt.p); !errors.Is(err, errCorrupt) {
				t.Fatalf("got %v, want errCorrupt", err)
			}
		})
	}
}

// TestCodecReadsVersion1: events from a process still on the first wire
// format decode, without a publish time.
func TestCodecReadsVersion1(t *testing.T) {
	t.Parallel()
	v1 := "\x01" + "\x07message" + "\x01c" + "\x0e" + "\x01o" + `{"a":1}`
	ev, err := decodeEvent(v1)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != chorus.EventMessage || ev.ConversationID != "c" || ev.Seq != 7 || ev.Origin != "o" || string(ev.Data) != `{"a":1}` || ev.PublishedAt != 0 {
		t.Fatalf("decoded %+v", ev)
	}
	v2, err := decodeEvent(string(appendEvent(nil, chorus.Event{Type: "typing", PublishedAt: 1_700_000_000_123_456_789})))
	if err != nil || v2.PublishedAt != 1_700_000_000_123_456_789 {
		t.Fatalf("v2: %+v %v", v2, err)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(string(appendEvent(nil, chorus.Event{Type: chorus.EventMessage, ConversationID: "c", Seq: 7, Origin: "o", Data: []byte(`{"type":"message"}`)})))
	f.Add("")
	f.Add("\x01\x00\x00\x00\x00")
	f.Fuzz(func(t *testing.T, p string) {
		ev, err := decodeEvent(p)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to an equal event.
		back, err := decodeEvent(string(appendEvent(nil, ev)))
		if err != nil || !equalEvent(back, ev) {
			t.Fatalf("re-encoding %+v: %+v, %v", ev, back, err)
		}
	})
}
