package bus

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/enkisys/chorus/internal/chorus"
)

// Wire format of an Event on Redis (version 2; version 1 lacks PublishedAt
// and is still decoded):
//
//	byte     version (2)
//	uvarint  len(Type), Type
//	uvarint  len(ConversationID), ConversationID
//	varint   Seq
//	uvarint  len(Origin), Origin
//	varint   PublishedAt (version 2)
//	rest     Data, as is
//
// The header is a few dozen bytes; Data, the JSON frame, is not re-encoded.
const (
	codecVersion   = 2
	codecVersionV1 = 1
)

var errCorrupt = errors.New("corrupt event")

// appendEvent appends the wire form of ev to dst.
func appendEvent(dst []byte, ev chorus.Event) []byte {
	dst = append(dst, codecVersion)
	dst = appendString(dst, ev.Type)
	dst = appendString(dst, ev.ConversationID)
	dst = binary.AppendVarint(dst, ev.Seq)
	dst = appendString(dst, ev.Origin)
	dst = binary.AppendVarint(dst, ev.PublishedAt)
	return append(dst, ev.Data...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decodeEvent parses the wire form produced by appendEvent.
func decodeEvent(p string) (chorus.Event, error) {
	var ev chorus.Event
	if len(p) == 0 || (p[0] != codecVersion && p[0] != codecVersionV1) {
		return ev, fmt.Errorf("bus: decode event: %w: version", errCorrupt)
	}
	r := reader{s: p[1:]}
	typ := r.str()
	ev.Type = internType(typ)
	ev.ConversationID = r.str()
	ev.Seq = r.varint()
	ev.Origin = r.str()
	if p[0] == codecVersion {
		ev.PublishedAt = r.varint()
	}
	if r.err {
		return chorus.Event{}, fmt.Errorf("bus: decode event: %w: header", errCorrupt)
	}
	if len(r.s) > 0 {
		ev.Data = []byte(r.s)
	}
	return ev, nil
}

// internType returns the constant for the known event types, so that
// decoding does not allocate a string for them.
func internType(s string) string {
	switch s {
	case chorus.EventMessage:
		return chorus.EventMessage
	case chorus.EventReceipt:
		return chorus.EventReceipt
	case chorus.EventTyping:
		return chorus.EventTyping
	case chorus.EventConversation:
		return chorus.EventConversation
	case chorus.EventPresence:
		return chorus.EventPresence
	case chorus.EventQueue:
		return chorus.EventQueue
	case chorus.EventResync:
		return chorus.EventResync
	}
	return s
}

type reader struct {
	s   string
	err bool
}

func (r *reader) uvarint() uint64 {
	var x uint64
	var shift uint
	for i := 0; i < len(r.s) && i < binary.MaxVarintLen64; i++ {
		b := r.s[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			r.s = r.s[i+1:]
			return x | uint64(b)<<shift
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	r.err = true
	r.s = ""
	return 0
}

func (r *reader) varint() int64 {
	ux := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err || n > uint64(len(r.s)) {
		r.err = true
		r.s = ""
		return ""
	}
	s := r.s[:n]
	r.s = r.s[n:]
	return s
}
