// Package fronteggmock plays the part of Frontegg's API that its backend SDKs use: vendor
// authentication, the identity configuration with the public key, and the vendor-only
// access-token endpoints. Tests of withauth (unit and real-Traefik) run against it.
package fronteggmock

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// VendorToken is the token the mock hands out and expects in x-access-token.
const VendorToken = "mock-vendor-token"

// Fault makes the key and access-token endpoints misbehave.
type Fault string

const (
	NoFault     Fault = ""
	FaultStatus Fault = "500"     // answer 500
	FaultHang   Fault = "hang"    // never answer, until Close
	FaultJunk   Fault = "garbage" // answer 200 with a body that is not JSON
	// FaultAccessDisabled answers the access-token endpoints as Frontegg does once the vendor
	// turned access tokens off: 403 {"errors":["Api tokens are disabled"]}. Keys still work.
	FaultAccessDisabled Fault = "access-disabled"
)

// Grants are the roles and permissions Frontegg holds for an access token.
type Grants struct {
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
}

// API is the mock. Its zero value is not usable: call New.
type API struct {
	ClientID, APIKey, PublicKeyPEM string

	mu        sync.Mutex
	fault     Fault
	expiresIn int
	active    map[string][]string // "users" or "tenants" -> active token IDs
	grants    map[string]Grants   // "users <id>" or "tenants <id>"
	hang      chan struct{}
	closeOnce sync.Once

	VendorAuths, KeyFetches, Checks atomic.Int64
}

// New returns a mock that accepts clientID and apiKey and serves publicKeyPEM.
func New(clientID, apiKey, publicKeyPEM string) *API {
	return &API{
		ClientID: clientID, APIKey: apiKey, PublicKeyPEM: publicKeyPEM,
		expiresIn: 3600,
		active:    map[string][]string{},
		grants:    map[string]Grants{},
		hang:      make(chan struct{}),
	}
}

// RotateKey makes publicKeyPEM Frontegg's key from now on, as a rotation of the vendor's
// signing key does.
func (a *API) RotateKey(publicKeyPEM string) {
	a.mu.Lock()
	a.PublicKeyPEM = publicKeyPEM
	a.mu.Unlock()
}

// SetFault switches the misbehaviour of the key and access-token endpoints.
func (a *API) SetFault(f Fault) {
	a.mu.Lock()
	a.fault = f
	a.mu.Unlock()
}

// SetVendorTokenLifetime sets the expiresIn of vendor tokens, in seconds.
func (a *API) SetVendorTokenLifetime(seconds int) {
	a.mu.Lock()
	a.expiresIn = seconds
	a.mu.Unlock()
}

// AddAccessToken registers an active access token of kind "users" or "tenants".
func (a *API) AddAccessToken(kind, id string, grants Grants) {
	a.mu.Lock()
	a.active[kind] = append(a.active[kind], id)
	a.grants[kind+" "+id] = grants
	a.mu.Unlock()
}

// RevokeAccessToken removes an access token: no longer active, no longer known.
func (a *API) RevokeAccessToken(kind, id string) {
	a.mu.Lock()
	var kept []string
	for _, active := range a.active[kind] {
		if active != id {
			kept = append(kept, active)
		}
	}
	a.active[kind] = kept
	delete(a.grants, kind+" "+id)
	a.mu.Unlock()
}

// Close releases requests held by FaultHang.
func (a *API) Close() {
	a.closeOnce.Do(func() { close(a.hang) })
}

// ServeHTTP serves the API.
func (a *API) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	path := req.URL.Path
	switch {
	case path == "/auth/vendor":
		a.VendorAuths.Add(1)
		a.vendorAuth(rw, req)
	case path == "/identity/resources/configurations/v1":
		a.KeyFetches.Add(1)
		if !a.refuse(rw, req) {
			a.mu.Lock()
			key := a.PublicKeyPEM
			a.mu.Unlock()
			writeJSON(rw, map[string]string{"publicKey": key})
		}
	case strings.HasPrefix(path, "/identity/resources/vendor-only/"):
		a.Checks.Add(1)
		if !a.refuse(rw, req) {
			a.accessTokens(rw, req)
		}
	default:
		http.NotFound(rw, req)
	}
}

func (a *API) vendorAuth(rw http.ResponseWriter, req *http.Request) {
	var body map[string]string
	if req.Method != http.MethodPost || json.NewDecoder(req.Body).Decode(&body) != nil ||
		body["clientId"] != a.ClientID || body["secret"] != a.APIKey {
		http.Error(rw, `{"errors":["Unauthorized"]}`, http.StatusUnauthorized)
		return
	}
	a.mu.Lock()
	expiresIn := a.expiresIn
	a.mu.Unlock()
	writeJSON(rw, map[string]interface{}{"token": VendorToken, "expiresIn": expiresIn})
}

// accessTokens serves /identity/resources/vendor-only/{users|tenants}/access-tokens/v1/{active|id}.
func (a *API) accessTokens(rw http.ResponseWriter, req *http.Request) {
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/identity/resources/vendor-only/"), "/")
	if len(parts) != 4 || parts[1] != "access-tokens" || parts[2] != "v1" {
		http.NotFound(rw, req)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fault == FaultAccessDisabled {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusForbidden)
		_, _ = rw.Write([]byte(`{"errors":["Api tokens are disabled"]}`))
		return
	}
	if parts[3] == "active" {
		ids := a.active[parts[0]]
		if ids == nil {
			ids = []string{}
		}
		writeJSON(rw, ids)
		return
	}
	grants, ok := a.grants[parts[0]+" "+parts[3]]
	if !ok {
		http.NotFound(rw, req)
		return
	}
	writeJSON(rw, map[string]interface{}{"id": parts[3], "roles": grants.Roles, "permissions": grants.Permissions})
}

// refuse applies the fault and the vendor-token check; true means it answered.
func (a *API) refuse(rw http.ResponseWriter, req *http.Request) bool {
	a.mu.Lock()
	fault := a.fault
	a.mu.Unlock()
	switch fault {
	case FaultStatus:
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return true
	case FaultHang:
		select {
		case <-a.hang:
		case <-req.Context().Done():
		}
		return true
	case FaultJunk:
		_, _ = rw.Write([]byte("<html>not json"))
		return true
	}
	if req.Header.Get("x-access-token") != VendorToken {
		http.Error(rw, `{"errors":["Unauthorized"]}`, http.StatusUnauthorized)
		return true
	}
	return false
}

func writeJSON(rw http.ResponseWriter, value interface{}) {
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(value)
}
