package loadtest

// seqTracker records which seqs of one conversation a socket has seen (from
// message frames and acks of its own sends), to find gaps and the resume
// point. Memory stays small: only seqs above the contiguous prefix are kept,
// and those are few unless something is wrong.
type seqTracker struct {
	low   int64              // every seq in (base, low] has been seen
	above map[int64]struct{} // seen seqs > low+1
	max   int64
}

// reset sets the baseline: seqs <= base are not expected (they were committed
// before the socket first connected, and nothing is replayed without after_seq).
func (t *seqTracker) reset(base int64) {
	t.low, t.max, t.above = base, base, nil
}

// add records seq and reports whether it was new.
func (t *seqTracker) add(seq int64) bool {
	if seq <= t.low {
		return false
	}
	if _, dup := t.above[seq]; dup {
		return false
	}
	t.max = max(t.max, seq)
	if seq != t.low+1 {
		if t.above == nil {
			t.above = make(map[int64]struct{})
		}
		t.above[seq] = struct{}{}
		return true
	}
	t.low = seq
	for {
		if _, ok := t.above[t.low+1]; !ok {
			break
		}
		delete(t.above, t.low+1)
		t.low++
	}
	return true
}

// holes counts the seqs below the highest seen one that were never seen.
func (t *seqTracker) holes() int64 {
	return t.max - t.low - int64(len(t.above))
}
