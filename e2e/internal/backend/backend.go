// Package backend is the demo upstream service: it answers every request with JSON describing
// what reached it, so one can see which identity headers withauth forwarded.
package backend

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

// Seen is the backend's answer.
type Seen struct {
	Service       string            `json:"service,omitempty"`
	Method        string            `json:"method"`
	Path          string            `json:"path"`
	Query         string            `json:"query"`         // the raw query the backend received
	Headers       map[string]string `json:"headers"`       // the X-User-* and X-Tenant-* headers received
	Authorization bool              `json:"authorization"` // whether an Authorization header arrived
}

// Handler answers 200 with Seen as JSON. name is reported as "service".
func Handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen := Seen{Service: name, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Headers: map[string]string{},
			Authorization: r.Header.Get("Authorization") != ""}
		for key, values := range r.Header {
			if IdentityHeader(key) {
				seen.Headers[key] = strings.Join(values, ", ")
			}
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(seen)
	})
}

// IdentityHeader tells whether the backend reports a header (canonical form): every spelling
// of the identity headers, since CGI-style servers read X_User_Id as X-User-Id.
func IdentityHeader(key string) bool {
	key = strings.ReplaceAll(key, "_", "-")
	return strings.HasPrefix(key, "X-User-") || strings.HasPrefix(key, "X-Tenant-")
}

// Summary renders the identity headers compactly, sorted: "X-User-Id=alice X-User-Roles=admin".
func (s Seen) Summary() string {
	keys := make([]string, 0, len(s.Headers))
	for k := range s.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strings.TrimPrefix(k, "X-") + "=" + s.Headers[k])
	}
	if s.Authorization {
		b.WriteString(" +Authorization")
	}
	return strings.TrimSpace(b.String())
}
