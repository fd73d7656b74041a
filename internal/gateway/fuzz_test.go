package gateway

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/enkisys/chorus/internal/chorus"
)

// FuzzDecodeFrame: DecodeFrame never panics; every error is invalid_request
// (or the client_msg_id rules' code); every accepted frame has a known type
// and the fields that type needs, and a conversation_id, when present, is a
// valid id.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"message.send","client_msg_id":"c1","body":"Hi"}`,
		`{"type":"message.send","client_msg_id":"c1","body":"Hi","conversation_id":"0192f1c4-8a1e-7000-8000-000000000001"}`,
		`{"type":"typing","active":true}`,
		`{"type":"typing","active":false,"conversation_id":"c-1"}`,
		`{"type":"read","seq":42}`,
		`{"type":"read","seq":0}`,
		`{"type":"read","seq":-1}`,
		`{"type":"read","seq":9223372036854775807}`,
		`{"type":"read","seq":1e99}`,
		`{"type":"ping"}`,
		`{"type":"ping","conversation_id":"../../etc"}`,
		`{"type":"bogus"}`, `{}`, `[]`, `null`, `"x"`, `not json`, ``,
		`{"type":"message.send","body":"x"}`,
		`{"type":"message.send","client_msg_id":"c1"}`,
		`{"type":"message.send","client_msg_id":"c 1","body":"x"}`,
		`{"type":"message.send","client_msg_id":"c1","body":null}`,
		`{"type":"typing","active":"yes"}`,
		`{"type":"message.send","client_msg_id":"x' OR '1'='1","body":"'); DROP TABLE messages; --"}`,
		"{\"type\":\"ping\",\"pad\":\"\xff\"}",
		`{"type":"ping","type":"message.send"}`,
		`{"TYPE":"PING"}`,
		strings.Repeat(`[`, 1000),
	} {
		f.Add([]byte(s))
	}
	known := map[string]bool{"message.send": true, "typing": true, "read": true, "ping": true}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := DecodeFrame(data)
		if err != nil {
			if code := chorus.ErrorCode(err); code != chorus.EINVALID {
				t.Fatalf("DecodeFrame(%q) error code %q, want invalid_request", data, code)
			}
			if msg := chorus.ErrorMessage(err); msg == "" || !utf8.ValidString(msg) {
				t.Fatalf("error message %q", msg)
			}
			return
		}
		if !utf8.Valid(data) {
			t.Fatalf("accepted invalid UTF-8 %q", data)
		}
		if !known[fr.Type] {
			t.Fatalf("accepted unknown type %q", fr.Type)
		}
		switch fr.Type {
		case "message.send":
			if fr.Body == nil {
				t.Fatal("message.send without body")
			}
			if chorus.ValidClientMsgID(fr.ClientMsgID) != nil {
				t.Fatalf("message.send with bad client_msg_id %q", fr.ClientMsgID)
			}
		case "typing":
			if fr.Active == nil {
				t.Fatal("typing without active")
			}
		case "read":
			if fr.Seq == nil || *fr.Seq < 1 {
				t.Fatalf("read with seq %v", fr.Seq)
			}
		}
		if fr.ConversationID != "" && !chorus.ValidID(fr.ConversationID) {
			t.Fatalf("accepted conversation_id %q", fr.ConversationID)
		}
	})
}
