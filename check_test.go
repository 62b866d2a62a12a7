package withauth

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// givenPEMConfig is pemConfig as Traefik gives it: every key in Given.
func givenPEMConfig(t *testing.T, changes map[string]interface{}) *Config {
	given := map[string]interface{}{"publicKey": pemConfig(t).PublicKey, "issuer": "https://app-demo.frontegg.com"}
	for key, value := range changes {
		given[key] = value
	}
	return &Config{Given: given}
}

// TestCheckIsNewsJudgement: Check accepts what New accepts and refuses what New refuses, with
// the message New logs, and notes a secret given inline.
func TestCheckIsNewsJudgement(t *testing.T) {
	if notes, err := Check(givenPEMConfig(t, map[string]interface{}{"roles": []interface{}{"admin"}}), "ok"); err != nil || len(notes) != 0 {
		t.Errorf("a valid configuration: notes %q, %v; want none and no error", notes, err)
	}
	for _, refused := range []map[string]interface{}{{"role": "admin"}, {"clockSkew": "30"}, {"dpop": "true"}, {"roles": ""}} {
		config := givenPEMConfig(t, refused)
		_, err := Check(config, "route")
		_, want := build(newProcess(), http.NotFoundHandler(), config, "route")
		if err == nil || want == nil || err.Error() != want.Error() {
			t.Errorf("%v: Check said %v; want New's refusal %v", refused, err, want)
		}
	}
	notes, err := Check(givenPEMConfig(t, map[string]interface{}{"introspectionUrl": "https://idp.example/introspect",
		"introspectionClientId": "withauth", "introspectionClientSecret": "inline-secret"}), "inline")
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "introspectionClientSecret: given inline") || strings.Contains(notes[0], "inline-secret") {
		t.Errorf("an inline secret: notes %q, %v; want one naming introspectionClientSecret and the File form, never the secret", notes, err)
	}
}

// TestCheckStandsInForSecretsElsewhere: a secret file that is only on the Traefik host, or a
// Kubernetes Secret, is not an error here, and a note says it was not checked.
func TestCheckStandsInForSecretsElsewhere(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "not-here")
	cases := map[string]map[string]interface{}{
		"introspectionClientSecretFile": {"introspectionUrl": "https://idp.example/introspect", "introspectionClientId": "withauth", "introspectionClientSecretFile": absent},
		"dpopNonceSecretFile":           {"dpop": "required", "dpopOrigins": testOrigin, "dpopNonce": "required", "dpopNonceSecretFile": absent},
		"clientKeyFile":                 {"clientCertificate": "-----BEGIN CERTIFICATE-----\nnot checked\n-----END CERTIFICATE-----", "clientKeyFile": absent},
		"replayStorePasswordFile": {"dpop": "required", "dpopOrigins": testOrigin, "replayStore": "redis://withauth@redis:6379",
			"replayStorePasswordFile": absent},
		"introspectionClientSecret": {"introspectionUrl": "https://idp.example/introspect", "introspectionClientId": "withauth",
			"introspectionClientSecret": "urn:k8s:secret:idp:clientSecret"},
		"upstreamTokenKey":     {"upstreamTokenKey": "urn:k8s:secret:gateway:key", "upstreamTokenIssuer": "https://gateway.example"},
		"upstreamTokenKeyFile": {"upstreamTokenKeyFile": absent, "upstreamTokenIssuer": "https://gateway.example"},
	}
	for key, changes := range cases {
		notes, err := Check(givenPEMConfig(t, changes), "elsewhere")
		if err != nil || len(notes) != 1 || !strings.HasPrefix(notes[0], key+": ") {
			t.Errorf("%s not on this machine: notes %q, %v; want one note on %s and no error", key, notes, err, key)
		}
	}
	// Given both ways, New refuses it whatever the file holds: so does Check.
	if _, err := Check(givenPEMConfig(t, map[string]interface{}{"clientId": "c", "apiKey": "k", "apiKeyFile": absent}), "both"); err == nil ||
		!strings.Contains(err.Error(), "apiKey and apiKeyFile") {
		t.Errorf("apiKey given both ways, the file elsewhere: %v; want New's refusal", err)
	}
}

// TestCheckSharesNothing: Check builds in a process of its own; the process Traefik's routes
// share never sees the checked configuration.
func TestCheckSharesNothing(t *testing.T) {
	if _, err := Check(givenPEMConfig(t, map[string]interface{}{"forwardHeaders": map[string]interface{}{"X-Checked-Only": "sub"}}), "checked"); err != nil {
		t.Fatal(err)
	}
	if owned := shared.headers.owned.Load().(*ownedNames); owned.spellings["X-Checked-Only"] {
		t.Errorf("after Check: the shared process strips X-Checked-Only; want the checked configuration to leave nothing there")
	}
}
