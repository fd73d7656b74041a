package postgres_test

import (
	"testing"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/storetest"
)

// TestStore runs the conformance suite, each subtest on a fresh database.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) chorus.Store { return openStore(t) })
}

// BenchmarkMessageCreate measures the hot path on a fresh database.
func BenchmarkMessageCreate(b *testing.B) {
	storetest.BenchMessageCreate(b, openStore(b))
}
