package secrets

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSSM is an httptest server that speaks the part of the SSM JSON 1.1
// protocol Resolve uses: POST / with X-Amz-Target AmazonSSM.GetParameters.
// It checks what the real service checks (signature scope, at most 10 names)
// and returns a fake ciphertext for SecureStrings unless WithDecryption is set.
type fakeSSM struct {
	*httptest.Server
	t testing.TB

	mu     sync.Mutex
	params map[string]string // name (with ":selector" for a version or label) → plaintext
	calls  [][]string        // Names of each GetParameters call, in order
	// fail, when set, answers a call instead of the normal handler; it
	// returns false to let the normal handler answer.
	fail func(w http.ResponseWriter, call int) bool
	// omit names are left out of both Parameters and InvalidParameters.
	omit map[string]bool
}

const fakeCiphertext = "AQICAHhCIPHERTEXTnotdecrypted=="

func newFakeSSM(t testing.TB, params map[string]string) *fakeSSM {
	t.Helper()
	f := &fakeSSM{t: t, params: params, omit: map[string]bool{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSSM) Calls() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.calls...)
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func (f *fakeSSM) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		apiError(w, http.StatusNotFound, "UnknownOperationException", "POST / only")
		return
	}
	if got := r.Header.Get("X-Amz-Target"); got != "AmazonSSM.GetParameters" {
		apiError(w, http.StatusBadRequest, "UnknownOperationException", "unexpected target "+got)
		return
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.1" {
		apiError(w, http.StatusBadRequest, "SerializationException", "content type "+got)
		return
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=test/") || !strings.Contains(auth, "/us-east-1/ssm/aws4_request") {
		apiError(w, http.StatusBadRequest, "UnrecognizedClientException", "bad signature scope")
		return
	}
	var in struct {
		Names          []string
		WithDecryption bool
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		apiError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if len(in.Names) == 0 || len(in.Names) > 10 {
		apiError(w, http.StatusBadRequest, "ValidationException", "Names: 1 to 10 items")
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, in.Names)
	call := len(f.calls)
	fail := f.fail
	f.mu.Unlock()
	if fail != nil && fail(w, call) {
		return
	}

	type param struct {
		Name, Type, Value string
		Selector          string `json:",omitempty"`
		Version           int
		ARN               string
		LastModifiedDate  float64
	}
	out := struct {
		Parameters        []param
		InvalidParameters []string
	}{Parameters: []param{}, InvalidParameters: []string{}}
	for _, n := range in.Names {
		if f.omit[n] {
			continue
		}
		v, ok := f.params[n]
		if !ok {
			out.InvalidParameters = append(out.InvalidParameters, n)
			continue
		}
		if !in.WithDecryption {
			v = fakeCiphertext
		}
		p := param{Name: n, Type: "SecureString", Value: v, Version: 1,
			ARN: "arn:aws:ssm:us-east-1:000000000000:parameter" + n, LastModifiedDate: float64(time.Now().Unix())}
		if i := strings.LastIndexByte(n, ':'); i >= 0 {
			p.Name, p.Selector = n[:i], n[i:]
		}
		out.Parameters = append(out.Parameters, p)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}
