package withauth

// Key formats: JSON Web Key Sets (RFC 7517) fetched from an endpoint, and PEM public keys.

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
)

const (
	// minRSABits refuses keys too short to be safe; maxRSABits keys that would make every
	// verification needlessly slow.
	minRSABits = 2048
	maxRSABits = 16384
)

// jwksEndpoint fetches a JSON Web Key Set (RFC 7517) over HTTP.
type jwksEndpoint struct {
	url    string
	client *http.Client
}

func (e jwksEndpoint) describe() string { return e.url }

func (e jwksEndpoint) fetch(ctx context.Context) (*keySet, error) {
	body, _, err := fetchBounded(ctx, e.client, http.MethodGet, e.url, nil, nil)
	if err != nil {
		return nil, err
	}
	return parseJWKS(body)
}

type jwk struct {
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// parseJWKS keeps the keys fit for RS256 signatures and skips the rest (other key types,
// encryption keys, other algorithms); a set with no usable key is an error.
func parseJWKS(body []byte) (*keySet, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("invalid JWKS: %v", err)
	}
	set := &keySet{byKid: make(map[string]*rsa.PublicKey)}
	for _, k := range doc.Keys {
		if k.Kty != "RSA" || (k.Alg != "" && k.Alg != "RS256") || (k.Use != "" && k.Use != "sig") {
			continue
		}
		key, err := rsaKeyFromJWK(k.N, k.E)
		if err != nil {
			continue
		}
		if _, seen := set.byKid[k.Kid]; !seen {
			set.byKid[k.Kid] = key
		}
	}
	if len(set.byKid) == 0 {
		return nil, errors.New("the JWKS holds no RSA signing key of at least 2048 bits")
	}
	if len(set.byKid) == 1 {
		for _, key := range set.byKid {
			set.single = key
		}
	}
	return set, nil
}

func rsaKeyFromJWK(n, e string) (*rsa.PublicKey, error) {
	modulus, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(n, "="))
	if err != nil {
		return nil, err
	}
	exponent, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(e, "="))
	if err != nil {
		return nil, err
	}
	if len(exponent) == 0 || len(exponent) > 4 {
		return nil, errors.New("unsupported RSA exponent")
	}
	var exp int64
	for _, b := range exponent {
		exp = exp<<8 | int64(b)
	}
	return checkRSAKey(&rsa.PublicKey{N: new(big.Int).SetBytes(modulus), E: int(exp)})
}

func checkRSAKey(key *rsa.PublicKey) (*rsa.PublicKey, error) {
	if bits := key.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("the RSA key has %d bits; %d to %d are accepted", bits, minRSABits, maxRSABits)
	}
	if key.E < 3 || key.E%2 == 0 || int64(key.E) > 1<<31-1 {
		return nil, errors.New("the RSA key has an invalid public exponent")
	}
	return key, nil
}

// parsePublicKeyPEM reads an RSA public key in PEM ("PUBLIC KEY" or "RSA PUBLIC KEY").
// Escaped newlines are accepted, since labels and environment variables rarely hold real ones.
func parsePublicKeyPEM(text string) (*rsa.PublicKey, error) {
	text = strings.ReplaceAll(strings.TrimSpace(text), `\n`, "\n")
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "RSA PUBLIC KEY":
		key, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		return checkRSAKey(key)
	case "PUBLIC KEY":
		parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		key, ok := parsed.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("the key is a %T, not an RSA key", parsed)
		}
		return checkRSAKey(key)
	}
	return nil, fmt.Errorf("PEM block of type %q, expected PUBLIC KEY", block.Type)
}
