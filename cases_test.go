package withauth

// The table runner of token cases: a request through one handler, and the answer it must get.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// tokenCase is a request through one handler and what must come of it.
type tokenCase struct {
	name        string
	config      func(*Config)
	token       func(t testing.TB) string
	header      func(*http.Request)
	wantStatus  int
	wantError   string // the error code in WWW-Authenticate and the JSON body
	wantErr     error  // the refusal: its row in refusalTable decides status, reason and description
	wantForward map[string]string
}

func runTokenCases(t *testing.T, base func(testing.TB) *Config, cases []tokenCase) {
	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			config := base(t)
			if tc.config != nil {
				tc.config(config)
			}
			next := &upstream{}
			handler := newHandler(t, config, next)
			token := ""
			if tc.token != nil {
				token = tc.token(t)
			}
			req := request(token)
			if tc.header != nil {
				tc.header(req)
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			checkAnswer(t, rec, next, tc)
		})
	}
}

func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, next *upstream, tc tokenCase) {
	t.Helper()
	if rec.Code != tc.wantStatus {
		t.Fatalf("status = %d (body %s); want %d", rec.Code, rec.Body.String(), tc.wantStatus)
	}
	if tc.wantStatus == http.StatusOK {
		if next.calls.Load() != 1 {
			t.Fatalf("upstream called %d times; want once", next.calls.Load())
		}
		for name, want := range tc.wantForward {
			if got := next.header.Get(name); got != want {
				t.Errorf("upstream header %s = %q; want %q", name, got, want)
			}
		}
		return
	}
	if next.calls.Load() != 0 {
		t.Fatalf("upstream called for a request answered %d; want it never reached", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", got)
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", rec.Body.String(), err)
	}
	challenge := rec.Header().Get("WWW-Authenticate")
	switch {
	case tc.wantStatus == http.StatusServiceUnavailable:
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
	case tc.wantError == "":
		if challenge != `Bearer realm="withauth"` {
			t.Errorf("WWW-Authenticate = %q; want the bare challenge Bearer realm=\"withauth\"", challenge)
		}
	default:
		if !strings.HasPrefix(challenge, `Bearer realm="withauth", error="`+tc.wantError+`", error_description="`) {
			t.Errorf("WWW-Authenticate = %q; want error=%q with a description", challenge, tc.wantError)
		}
	}
	if tc.wantError != "" && body["error"] != tc.wantError {
		t.Errorf("body error = %q; want %q", body["error"], tc.wantError)
	}
	if tc.wantErr != nil {
		want := refusals[tc.wantErr]
		if body["reason"] != want.reason || body["error_description"] != tc.wantErr.Error() || rec.Code != want.status {
			t.Errorf("status %d, reason %q, error_description %q; want %d, %q, %q (refusalTable's row for that error)",
				rec.Code, body["reason"], body["error_description"], want.status, want.reason, tc.wantErr.Error())
		}
	}
}
