// Package assertion is what a backend does with withauth's upstream assertion
// (upstreamTokenKey), with the Go standard library alone: the signature against the key set
// withauth publishes (upstreamJwksPath), then iss, aud and exp. cmd/assertion-backend serves it;
// the e2e suite puts it behind a real Traefik.
package assertion

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Verifier checks assertions.
type Verifier struct {
	JWKSURL  string // withauth's upstreamJwksPath, as the backend reaches it
	Issuer   string // upstreamTokenIssuer
	Audience string // upstreamTokenAudience, or the Host the backend is reached at
	Client   *http.Client

	mu      sync.Mutex
	keys    map[string]interface{} // by kid: *ecdsa.PublicKey or ed25519.PublicKey
	fetched time.Time
}

// Verify returns the claims of a valid assertion at now.
func (v *Verifier) Verify(assertion string, now time.Time) (map[string]interface{}, error) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	var header struct{ Alg, Kid string }
	if err := decodePart(parts[0], &header); err != nil {
		return nil, err
	}
	key, err := v.key(header.Kid, now)
	if err != nil {
		return nil, err
	}
	signature, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, err
	}
	input := []byte(parts[0] + "." + parts[1])
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(input)
		if header.Alg != "ES256" || len(signature) != 64 ||
			!ecdsa.Verify(k, sum[:], new(big.Int).SetBytes(signature[:32]), new(big.Int).SetBytes(signature[32:])) {
			return nil, errors.New("bad signature")
		}
	case ed25519.PublicKey:
		if header.Alg != "EdDSA" || !ed25519.Verify(k, input, signature) {
			return nil, errors.New("bad signature")
		}
	}
	var claims map[string]interface{}
	if err := decodePart(parts[1], &claims); err != nil {
		return nil, err
	}
	exp, _ := claims["exp"].(float64)
	switch {
	case claims["iss"] != v.Issuer:
		return nil, fmt.Errorf("iss %v is not %s", claims["iss"], v.Issuer)
	case claims["aud"] != v.Audience:
		return nil, fmt.Errorf("aud %v is not %s", claims["aud"], v.Audience)
	case float64(now.Unix()) >= exp:
		return nil, errors.New("expired")
	}
	return claims, nil
}

// key is the published key of kid, the set fetched again (at most every 10 s) for a kid it lacks:
// a rotation's new key.
func (v *Verifier) key(kid string, now time.Time) (interface{}, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if key := v.keys[kid]; key != nil {
		return key, nil
	}
	if now.Sub(v.fetched) < 10*time.Second {
		return nil, fmt.Errorf("no published key %q", kid)
	}
	v.fetched = now
	resp, err := v.Client.Get(v.JWKSURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kty, Crv, X, Y, Kid string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, err
	}
	v.keys = map[string]interface{}{}
	for _, k := range set.Keys {
		x, _ := base64.RawURLEncoding.DecodeString(k.X)
		switch {
		case k.Kty == "EC" && k.Crv == "P-256":
			y, _ := base64.RawURLEncoding.DecodeString(k.Y)
			v.keys[k.Kid] = &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		case k.Kty == "OKP" && k.Crv == "Ed25519" && len(x) == ed25519.PublicKeySize:
			v.keys[k.Kid] = ed25519.PublicKey(x)
		}
	}
	if key := v.keys[kid]; key != nil {
		return key, nil
	}
	return nil, fmt.Errorf("no published key %q", kid)
}

func decodePart(part string, v interface{}) error {
	data, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// Handler admits a request to next only with a valid assertion in header (upstreamTokenHeader),
// 401 saying why otherwise; next sees the assertion's sub as X-User-Assertion-Sub, the only
// identity a backend reachable around Traefik should believe.
func Handler(v *Verifier, header string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		claims, err := v.Verify(req.Header.Get(header), time.Now())
		if err != nil {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(rw).Encode(map[string]string{"error": "assertion: " + err.Error()})
			return
		}
		sub, _ := claims["sub"].(string)
		req.Header.Set("X-User-Assertion-Sub", sub)
		next.ServeHTTP(rw, req)
	})
}
