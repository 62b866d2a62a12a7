package withauth

// Check: New's judgement of a configuration without New's effects, for withauth-check
// (cmd/withauth-check), which runs it on configuration files before they are deployed.

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"strings"
)

// Check returns the error New would log for config (nil when New accepts it) and notes on
// what the configuration exposes: secrets given inline, which Traefik's API and dashboard show.
// It builds in a process of its own, so nothing is shared, fetched, started or logged.
//
// A secret this machine cannot see stands for a valid one, with a note: a <key>File whose path
// is not here, or a urn:k8s:secret: value, which Traefik resolves. clientCertificate's pairing
// with its key is then not checked.
func Check(config *Config, name string) ([]string, error) {
	if config == nil || config.Given == nil {
		_, err := build(quietProcess(), http.NotFoundHandler(), config, name)
		return nil, err
	}
	given := make(map[string]interface{}, len(config.Given))
	for key, value := range config.Given {
		given[key] = value
	}
	// Not a named result: under Yaegi v0.16.1 a named slice result kept the previous call's items.
	notes := []string{}
	for _, s := range secretFiles {
		notes = append(notes, standInForSecret(given, s)...)
	}
	_, err := build(quietProcess(), http.NotFoundHandler(), &Config{Given: given, Now: config.Now}, name)
	if len(notes) == 0 {
		return nil, err
	}
	return notes, err
}

// quietProcess is a process of its own whose log writes nothing.
func quietProcess() *process {
	p := newProcess()
	p.log = &processLog{debug: func(string) {}, error: func(string) {}}
	return p
}

// secretStandIn stands for a secret this machine cannot see: long enough for any secret's rule.
const secretStandIn = "withauth-check: a secret Traefik reads at load, not seen here"

// standInForSecret notes how given gives the secret s, and puts a stand-in where this machine
// cannot see it.
func standInForSecret(given map[string]interface{}, s secretFile) []string {
	inlineKey, inline := givenKey(given, s.key)
	fileKey, file := givenKey(given, s.fileKey)
	var notes []string
	if inline {
		value, _ := given[inlineKey].(string)
		switch {
		case strings.HasPrefix(strings.TrimSpace(value), "urn:k8s:secret:"):
			notes = append(notes, inlineKey+": a Kubernetes Secret, which Traefik resolves into its API and dashboard; "+s.fileKey+" (the Secret mounted as a file) keeps it out")
			delete(given, inlineKey)
			standIn(given, s)
		case value != "":
			notes = append(notes, inlineKey+": given inline, so Traefik's API and dashboard show it; give "+s.fileKey+" (a mounted file) instead")
		}
	}
	if file {
		path, _ := given[fileKey].(string)
		if _, err := os.Stat(strings.TrimSpace(path)); strings.TrimSpace(path) != "" && err != nil {
			notes = append(notes, fileKey+": "+path+" is not on this machine; Traefik reads it at load (its content is not checked here)")
			if !inline { // given both ways, New refuses it before reading the file
				delete(given, fileKey)
				standIn(given, s)
			}
		}
	}
	return notes
}

// standIn gives s a secret this machine cannot see as secretStandIn; a client key, which no
// stand-in can pair with its certificate, leaves the certificate out instead, and a Redis
// password is left out (the store then needs none).
func standIn(given map[string]interface{}, s secretFile) {
	switch s.fileKey {
	case "clientKeyFile":
		if certificate, ok := givenKey(given, "clientCertificate"); ok {
			delete(given, certificate)
		}
	case "replayStorePasswordFile":
	case "upstreamTokenKeyFile":
		given[s.key] = standInSigningKey()
	default:
		given[s.key] = secretStandIn
	}
}

// standInSigningKey is a fresh Ed25519 key in PEM, standing for an upstreamTokenKey this
// machine cannot see.
func standInSigningKey() string {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return secretStandIn
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return secretStandIn
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// givenKey is the spelling under which given holds key (case-insensitive, as decoding matches).
func givenKey(given map[string]interface{}, key string) (string, bool) {
	for name := range given {
		if strings.EqualFold(name, key) {
			return name, true
		}
	}
	return "", false
}
