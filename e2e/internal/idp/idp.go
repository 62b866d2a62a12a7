// Package idp is a small demo identity provider: it holds an RSA-2048 signing key, publishes it
// as a JWKS and mints RS256 user tokens shaped like Frontegg's. It is for demos and tests only.
package idp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// JWKSPath is where the key set is served.
const JWKSPath = "/.well-known/jwks.json"

// DefaultAudience is the aud claim of minted tokens unless another is asked for.
const DefaultAudience = "withauth-demo"

// IdP mints tokens. Its zero value is not usable: call New.
type IdP struct {
	key    *rsa.PrivateKey
	kid    string
	issuer string // fixed issuer; empty means the base URL the request came in on
	now    func() time.Time

	rogueOnce sync.Once
	rogue     *rsa.PrivateKey // a key that is never published
	rogueErr  error
}

// Options configure New.
type Options struct {
	Key    *rsa.PrivateKey // nil: generate an RSA-2048 key
	Issuer string          // fixed iss claim; empty: the request's own base URL (tokens from /token)
}

// New returns an IdP with the given (or a fresh) key.
func New(opts Options) (*IdP, error) {
	key := opts.Key
	if key == nil {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("generate RSA key: %w", err)
		}
	}
	return &IdP{key: key, kid: keyID(&key.PublicKey), issuer: strings.TrimSuffix(opts.Issuer, "/"), now: time.Now}, nil
}

// LoadKey reads a PEM RSA private key (PKCS#1 or PKCS#8).
func LoadKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not an RSA private key: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA private key", path)
	}
	return rk, nil
}

// keyID is the RFC 7638 thumbprint of the key, shortened: stable for a given key.
func keyID(pub *rsa.PublicKey) string {
	thumb := fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`, b64(big.NewInt(int64(pub.E)).Bytes()), b64(pub.N.Bytes()))
	sum := sha256.Sum256([]byte(thumb))
	return "demo-" + b64(sum[:])[:16]
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// KeyID is the kid of the published key.
func (p *IdP) KeyID() string { return p.kid }

// PublicKeyPEM is the published key as a PEM "PUBLIC KEY" block (for the publicKey option).
func (p *IdP) PublicKeyPEM() string {
	der, err := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
	if err != nil {
		panic(err) // cannot happen for an RSA key
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// JWKS is the published key set.
func (p *IdP) JWKS() []byte {
	pub := p.key.PublicKey
	set := map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": p.kid,
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}}
	out, _ := json.Marshal(set)
	return out
}

// Request describes a token to mint.
type Request struct {
	Subject     string
	Name        string
	Email       string
	Tenant      string
	Roles       []string
	Permissions []string
	Audience    string        // empty: DefaultAudience
	Issuer      string        // empty: the IdP's issuer
	TTL         time.Duration // 0: one hour; negative: already expired by that much
	UnknownKey  bool          // sign with a key that is not in the JWKS (kid "unknown-key")
	Extra       map[string]any
}

// Claims returns the claims Mint would sign, for a given issuer.
func (p *IdP) Claims(r Request, issuer string) map[string]any {
	now := p.now()
	ttl := r.TTL
	if ttl == 0 {
		ttl = time.Hour
	}
	iat := now
	if ttl < 0 {
		iat = now.Add(ttl - time.Hour) // issued before it expired
	}
	sub := r.Subject
	if sub == "" {
		sub = "user-1"
	}
	tenant := r.Tenant
	if tenant == "" {
		tenant = "tenant-1"
	}
	email := r.Email
	if email == "" {
		email = sub + "@example.com"
	}
	name := r.Name
	if name == "" {
		name = sub
	}
	aud := r.Audience
	if aud == "" {
		aud = DefaultAudience
	}
	if r.Issuer != "" {
		issuer = r.Issuer
	}
	claims := map[string]any{
		"sub": sub, "name": name, "email": email,
		"roles": nonNil(r.Roles), "permissions": nonNil(r.Permissions),
		"tenantId": tenant, "tenantIds": []string{tenant},
		"type": "userToken", "iss": issuer, "aud": aud,
		"iat": iat.Unix(), "exp": now.Add(ttl).Unix(),
	}
	for k, v := range r.Extra {
		claims[k] = v
	}
	return claims
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Mint signs a token. issuer is used when the IdP has no fixed issuer and the request names none.
func (p *IdP) Mint(r Request, issuer string) (string, error) {
	if p.issuer != "" {
		issuer = p.issuer
	}
	key, kid := p.key, p.kid
	if r.UnknownKey {
		p.rogueOnce.Do(func() { p.rogue, p.rogueErr = rsa.GenerateKey(rand.Reader, 2048) })
		if p.rogueErr != nil {
			return "", p.rogueErr
		}
		key, kid = p.rogue, "unknown-key"
	}
	return Sign(key, kid, p.Claims(r, issuer))
}

// Sign makes a compact RS256 JWS of claims.
func Sign(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

// ServeHTTP serves the JWKS, /token and a short help text at /.
//
//	GET /token?sub=alice&tenant=acme&roles=admin,read-only&permissions=uploadFile&ttl=1h
//	  optional: email, name, aud, iss, expired=1 (exp in the past), key=unknown (unpublished key)
//	  answers the token as text/plain.
func (p *IdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case JWKSPath:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write(p.JWKS())
	case "/token":
		req, err := parseRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		token, err := p.Mint(req, baseURL(r))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(token))
	case "/":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "withauth demo identity provider (not for production)\n\n"+
			"GET %s\n"+
			"GET /token?sub=alice&tenant=acme&roles=admin,read-only&permissions=uploadFile&ttl=1h\n"+
			"    optional: email, name, aud, iss, expired=1, key=unknown\n", JWKSPath)
	default:
		http.NotFound(w, r)
	}
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func parseRequest(r *http.Request) (Request, error) {
	q := r.URL.Query()
	req := Request{
		Subject: q.Get("sub"), Name: q.Get("name"), Email: q.Get("email"), Tenant: q.Get("tenant"),
		Roles: splitList(q.Get("roles")), Permissions: splitList(q.Get("permissions")),
		Audience: q.Get("aud"), Issuer: q.Get("iss"),
	}
	if ttl := q.Get("ttl"); ttl != "" {
		d, err := time.ParseDuration(ttl)
		if err != nil {
			return req, fmt.Errorf("ttl: %w", err)
		}
		req.TTL = d
	}
	if on(q.Get("expired")) {
		req.TTL = -10 * time.Minute
	}
	switch k := q.Get("key"); k {
	case "", "current":
	case "unknown":
		req.UnknownKey = true
	default:
		return req, errors.New(`key: want "current" or "unknown"`)
	}
	return req, nil
}

func on(v string) bool {
	return v == "1" || strings.EqualFold(v, "true") || strings.EqualFold(v, "yes")
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
