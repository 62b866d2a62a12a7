// Package tokens mints RS256 JWTs shaped like Frontegg user tokens
// (/work/shared/examples/frontegg-user-token.json) with the benchmark key in testdata/.
// Signing costs about a millisecond a token, so pools of distinct tokens are minted on all cores
// and kept in a cache directory for the next run.
package tokens

import (
	"bufio"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
)

// Issuer, Audience and Kid are the claims the benchmark tokens carry; configure the plugin with them.
const (
	Issuer   = "https://app-demo.frontegg.com"
	Audience = "2a3b4c5d-client-id-example"
	Kid      = "3f1c2b9e-example"
	// Role and Permission are held by every token.
	Role       = "admin"
	Permission = "uploadFile"
)

// Minter signs tokens with one key.
type Minter struct {
	Key *rsa.PrivateKey
	// PublicPEM is the PKIX "PUBLIC KEY" PEM of Key, for the plugin's publicKey option.
	PublicPEM string
	// Fingerprint names the key in cache file names.
	Fingerprint string
}

// Load reads a PEM RSA private key (PKCS#8 or PKCS#1).
func Load(path string) (*Minter, error) {
	key, err := idp.LoadKey(path)
	if err != nil {
		return nil, err
	}
	p, err := idp.New(idp.Options{Key: key})
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &Minter{Key: key, PublicPEM: p.PublicKeyPEM(), Fingerprint: fmt.Sprintf("%x", sum[:6])}, nil
}

var b64 = base64.RawURLEncoding

// Claims returns the claims of the i-th typical token: the Frontegg example with per-user ids.
func Claims(i int, iat time.Time, ttl time.Duration) map[string]any {
	return map[string]any{
		"sub":               fmt.Sprintf("6b3c1a2e-0f4d-4f4a-9d57-%012x", i),
		"name":              fmt.Sprintf("Ada Lovelace %d", i),
		"email":             fmt.Sprintf("ada.%d@example.com", i),
		"email_verified":    true,
		"metadata":          map[string]any{"plan": "pro"},
		"roles":             []string{Role, "read-only"},
		"permissions":       []string{Permission, "fe.secure.read.users"},
		"tenantId":          fmt.Sprintf("9a1b2c3d-4e5f-6071-8293-%012x", i%997),
		"tenantIds":         []string{fmt.Sprintf("9a1b2c3d-4e5f-6071-8293-%012x", i%997)},
		"profilePictureUrl": "https://example.com/ada.png",
		"type":              "userToken",
		"applicationId":     "c0ffee00-1111-2222-3333-444455556666",
		"iss":               Issuer,
		"aud":               Audience,
		"iat":               iat.Unix(),
		"exp":               iat.Add(ttl).Unix(),
	}
}

// Sign returns the compact RS256 JWT of claims, signed as the e2e suite's IdP signs.
func (m *Minter) Sign(claims map[string]any) (string, error) {
	return idp.Sign(m.Key, Kid, claims)
}

// Token returns the i-th typical token, valid for a day.
func (m *Minter) Token(i int) (string, error) {
	return m.Sign(Claims(i, time.Now().Add(-time.Minute), 24*time.Hour))
}

// JWKS is the key set that verifies the tokens: the public key under Kid.
func (m *Minter) JWKS() []byte {
	e := big.NewInt(int64(m.Key.PublicKey.E)).Bytes()
	return []byte(`{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"` + Kid + `","n":"` +
		b64.EncodeToString(m.Key.PublicKey.N.Bytes()) + `","e":"` + b64.EncodeToString(e) + `"}]}`)
}

// PluginConfig is the dynamic configuration of the benchmarked withauth middleware, as Traefik
// passes it from labels: strings only. cacheSize "" leaves the default.
func (m *Minter) PluginConfig(cacheSize string) map[string]string {
	c := map[string]string{
		"publicKey":   m.PublicPEM,
		"issuer":      Issuer,
		"audience":    Audience,
		"roles":       Role,
		"permissions": Permission,
	}
	if cacheSize != "" {
		c["cacheSize"] = cacheSize
	}
	return c
}

// BadSignature returns tok with one signature byte changed.
func BadSignature(tok string) string {
	dot := strings.LastIndexByte(tok, '.')
	sig, err := b64.DecodeString(tok[dot+1:])
	if err != nil || len(sig) == 0 {
		return tok + "x"
	}
	sig[len(sig)/2] ^= 0x55
	return tok[:dot+1] + b64.EncodeToString(sig)
}

// CacheDir is where pools are kept: $WITHAUTH_CACHE/bench-tokens or ~/.cache/withauth/bench-tokens.
func CacheDir() string {
	if d := os.Getenv("WITHAUTH_CACHE"); d != "" {
		return filepath.Join(d, "bench-tokens")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "withauth", "bench-tokens")
	}
	return filepath.Join(os.TempDir(), "withauth-bench-tokens")
}

// poolTTL is how long pooled tokens are valid; a pool within a day of expiring is minted anew.
const poolTTL = 30 * 24 * time.Hour

// Pool returns n distinct valid tokens, from the cache directory when a fresh enough pool of at
// least n is there, else minted on all cores and saved.
func (m *Minter) Pool(n int) ([]string, error) {
	dir := CacheDir()
	file := filepath.Join(dir, fmt.Sprintf("pool-v1-%s-%d.txt", m.Fingerprint, n))
	if toks, err := readPool(file, n); err == nil {
		return toks, nil
	}
	iat := time.Now().Add(-time.Minute)
	toks := make([]string, n)
	errs := make([]error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += len(errs) {
				tok, err := m.Sign(Claims(i, iat, poolTTL))
				if err != nil {
					errs[w] = err
					return
				}
				toks[i] = tok
			}
		}(w)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		var sb strings.Builder
		sb.WriteString(strconv.FormatInt(iat.Add(poolTTL).Unix(), 10) + "\n")
		for _, t := range toks {
			sb.WriteString(t + "\n")
		}
		tmp := file + ".tmp"
		if os.WriteFile(tmp, []byte(sb.String()), 0o644) == nil {
			_ = os.Rename(tmp, file)
		}
	}
	return toks, nil
}

func readPool(file string, n int) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return nil, errors.New("empty pool")
	}
	exp, err := strconv.ParseInt(sc.Text(), 10, 64)
	if err != nil || time.Until(time.Unix(exp, 0)) < 24*time.Hour {
		return nil, errors.New("stale pool")
	}
	toks := make([]string, 0, n)
	for sc.Scan() && len(toks) < n {
		toks = append(toks, sc.Text())
	}
	if len(toks) < n {
		return nil, errors.New("short pool")
	}
	return toks, sc.Err()
}
