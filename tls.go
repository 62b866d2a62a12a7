package withauth

// The TLS of every fetch a middleware makes (keys, discovery, Frontegg's API): the certificate
// authorities it trusts beside the system's (caBundle), and the client certificate an identity
// provider that requires mutual TLS asks for (clientCertificate, clientKey).

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// fetchTLS is what New concluded from caBundle, clientCertificate and clientKey.
type fetchTLS struct {
	transport http.RoundTripper // nil: Go's default transport (the system's roots)
	// config is transport's TLS configuration (nil with it), which a rediss replayStore uses too.
	config *tls.Config
	// id tells key sources and Frontegg clients fetched with other TLS settings apart: a hash,
	// so that no certificate or key is kept in it.
	id string
}

// newFetchTLS checks caBundle, clientCertificate and clientKey: PEM, inline or with "\n"
// escapes. Each must parse, and the certificate comes with its key.
func newFetchTLS(config *Config) (fetchTLS, error) {
	bundle, certificate, key := unescapePEM(config.CABundle), unescapePEM(config.ClientCertificate), unescapePEM(config.ClientKey)
	if bundle == "" && certificate == "" && key == "" {
		return fetchTLS{}, nil
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if bundle != "" {
		authorities, err := parseCertificates(bundle)
		if err != nil {
			return fetchTLS{}, fmt.Errorf("caBundle: %v; give the PEM certificates (-----BEGIN CERTIFICATE-----) of the authorities that sign your identity provider's certificate", err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		for _, authority := range authorities {
			roots.AddCert(authority)
		}
		tlsConfig.RootCAs = roots
	}
	if (certificate == "") != (key == "") {
		return fetchTLS{}, errors.New("clientCertificate and clientKey: only one is set; give both (the PEM certificate and its private key) for mutual TLS, or neither")
	}
	if certificate != "" {
		pair, err := tls.X509KeyPair([]byte(certificate), []byte(key))
		if err != nil {
			return fetchTLS{}, fmt.Errorf("clientCertificate and clientKey: %v; give the PEM certificate and the PEM private key that goes with it", err)
		}
		tlsConfig.Certificates = []tls.Certificate{pair}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	sum := sha256.Sum256([]byte(bundle + "\x00" + certificate + "\x00" + key))
	return fetchTLS{transport: transport, config: tlsConfig, id: hex.EncodeToString(sum[:])}, nil
}

// unescapePEM accepts PEM with "\n" escapes, as a one-line label or variable gives it.
func unescapePEM(text string) string {
	return strings.ReplaceAll(strings.TrimSpace(text), `\n`, "\n")
}

// parseCertificates reads every block of a PEM bundle: all of them certificates, at least one.
func parseCertificates(bundle string) ([]*x509.Certificate, error) {
	var certificates []*x509.Certificate
	rest := []byte(bundle)
	for len(strings.TrimSpace(string(rest))) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("certificate %d is not PEM", len(certificates)+1)
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("block %d is a %q, not a CERTIFICATE", len(certificates)+1, block.Type)
		}
		certificate, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", len(certificates)+1, err)
		}
		certificates = append(certificates, certificate)
	}
	if len(certificates) == 0 {
		return nil, errors.New("no certificate found")
	}
	return certificates, nil
}
