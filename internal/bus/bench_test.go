package bus

import (
	"context"
	"testing"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
)

var benchEvent = chorus.Event{
	Type:           chorus.EventMessage,
	ConversationID: "0190a6b0-7c1e-7e2a-9f3d-1b2c3d4e5f60",
	Seq:            1234,
	Origin:         "conn-0190a6b0",
	Data:           []byte(`{"type":"message","conversation_id":"0190a6b0-7c1e-7e2a-9f3d-1b2c3d4e5f60","seq":1234,"body":"Hello, how can I help you today?"}`),
}

// BenchmarkMemoryPublish is Publish → handler to one subscriber.
func BenchmarkMemoryPublish(b *testing.B) {
	m := NewMemory()
	n := 0
	if _, err := m.Subscribe(context.Background(), "t.a.conv.x", func(chorus.Event) { n++ }); err != nil {
		b.Fatal(err)
	}
	// Other topics, so the lookup is not in a one-entry map.
	for i := range 1000 {
		_, _ = m.Subscribe(context.Background(), "t.a.conv.other"+string(rune('a'+i%26))+string(rune(i)), func(chorus.Event) {})
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Publish(ctx, "t.a.conv.x", benchEvent); err != nil {
			b.Fatal(err)
		}
	}
	if n == 0 {
		b.Fatal("handler not called")
	}
}

// BenchmarkMemoryPublishParallel is Publish from every core to per-goroutine
// topics.
func BenchmarkMemoryPublishParallel(b *testing.B) {
	m := NewMemory()
	if _, err := m.Subscribe(context.Background(), "t.a.conv.x", func(chorus.Event) {}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = m.Publish(ctx, "t.a.conv.x", benchEvent)
		}
	})
}

// BenchmarkRedisRoundTrip is Publish → Redis → receive loop → handler, one
// event at a time.
func BenchmarkRedisRoundTrip(b *testing.B) {
	client, prefix := chorustest.Redis(b)
	r := NewRedis(client, prefix, chorustest.Logger(b))
	b.Cleanup(func() { _ = r.Close() })
	got := make(chan struct{}, 1)
	ctx := context.Background()
	if _, err := r.Subscribe(ctx, "t.a.conv.x", func(chorus.Event) { got <- struct{}{} }); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Publish(ctx, "t.a.conv.x", benchEvent); err != nil {
			b.Fatal(err)
		}
		<-got
	}
}

func BenchmarkCodec(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendEvent(buf[:0], benchEvent)
		if _, err := decodeEvent(string(buf)); err != nil {
			b.Fatal(err)
		}
	}
}
