package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/seed0ec25cca/withauth/e2e/bench/internal/statuswriter"
	"github.com/seed0ec25cca/withauth/e2e/bench/internal/tokens"
	"github.com/seed0ec25cca/withauth/e2e/internal/yaegiplugin"
)

// The plugins as Traefik sees them: withauth is the repository root, noop ships in testdata.
const (
	withauthModule = "github.com/seed0ec25cca/withauth"
	noopModule     = "github.com/seed0ec25cca/noop"
	noopDir        = "testdata/noop"
	keyFile        = "testdata/bench-key.pem"
	// DistinctTokens is the pool cycled by the cache-miss-with-cache case: twice the default
	// cacheSize, so a least-recently-used cache never hits.
	distinctTokens = 20000
)

// withauthDir is the plugin source: the repository root, or $WITHAUTH_PLUGIN_DIR (to time a variant).
var withauthDir = func() string {
	if d := os.Getenv("WITHAUTH_PLUGIN_DIR"); d != "" {
		return d
	}
	return "../.."
}()

var (
	tmpDir string

	minterOnce sync.Once
	minter     *tokens.Minter
	minterErr  error

	pluginMu sync.Mutex
	plugins  = map[string]*yaegiplugin.Plugin{}
)

func TestMain(m *testing.M) {
	var err error
	tmpDir, err = os.MkdirTemp("", "withauth-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmpDir)
	if redisServer != nil {
		redisServer.Close()
	}
	os.Exit(code)
}

func getMinter(tb testing.TB) *tokens.Minter {
	minterOnce.Do(func() { minter, minterErr = tokens.Load(keyFile) })
	if minterErr != nil {
		tb.Fatal(minterErr)
	}
	return minter
}

// loadPlugin interprets a plugin once per test binary, as Traefik does once per plugin.
func loadPlugin(tb testing.TB, module, dir string) *yaegiplugin.Plugin {
	pluginMu.Lock()
	defer pluginMu.Unlock()
	if p, ok := plugins[module]; ok {
		return p
	}
	sub, err := os.MkdirTemp(tmpDir, "gopath-")
	if err != nil {
		tb.Fatal(err)
	}
	p, err := yaegiplugin.StageAndLoad(dir, sub, module, yaegiplugin.Options{Stderr: os.Stderr})
	if err != nil {
		tb.Fatalf("loading %s under Yaegi: %v", module, err)
	}
	plugins[module] = p
	return p
}

// okNext is the backend: a compiled handler answering 200.
var okNext = http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusOK) })

// withauthConfig is the dynamic configuration of the benchmarked middleware, as Traefik passes
// it from labels (strings; mapstructure's WeakDecode and StringToSliceHookFunc do the rest).
func withauthConfig(m *tokens.Minter, cacheSize string) map[string]any {
	cfg := map[string]any{}
	for key, value := range m.PluginConfig(cacheSize) {
		cfg[key] = value
	}
	return cfg
}

func newWithauth(b *testing.B, cacheSize string) http.Handler {
	m := getMinter(b)
	p := loadPlugin(b, withauthModule, withauthDir)
	h, err := p.New(context.Background(), okNext, withauthConfig(m, cacheSize), "withauth-bench")
	if err != nil {
		b.Fatalf("withauth.New: %v", err)
	}
	return h
}

// serve runs b.N requests through h, the i-th with the Authorization header auth(i), and fails
// (on the answer, never on timing) if the first answer is not want.
func serve(b *testing.B, h http.Handler, auth func(i int) string, want int) {
	serveWith(b, h, auth, nil, want)
}

// traefikHeaders are the headers a request reaches a plugin with behind Traefik, beside
// Authorization: the load generator's User-Agent and what Traefik's entry point adds.
var traefikHeaders = http.Header{
	"User-Agent":         {"withauth-bench"},
	"X-Forwarded-For":    {"127.0.0.1"},
	"X-Forwarded-Host":   {"bench.local"},
	"X-Forwarded-Port":   {"80"},
	"X-Forwarded-Proto":  {"http"},
	"X-Forwarded-Server": {"traefik"},
	"X-Real-Ip":          {"127.0.0.1"},
}

// serveWith is serve with the headers of extra on every request too.
func serveWith(b *testing.B, h http.Handler, auth func(i int) string, extra http.Header, want int) {
	serveEach(b, h, func(i int, header http.Header) {
		for name, values := range extra {
			header[name] = values
		}
		if a := auth(i); a != "" {
			header["Authorization"] = []string{a}
		}
	}, want)
}

// benchURL is the URL of every benchmark request.
const benchURL = "http://bench.local/api/resource"

// serveEach runs b.N requests through h, the i-th with the headers headers(i) sets, and fails
// (on the answer, never on timing) if the first answer is not want.
func serveEach(b *testing.B, h http.Handler, headers func(i int, header http.Header), want int) {
	req, err := http.NewRequest(http.MethodGet, benchURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	rw := statuswriter.New()
	fill := func(i int) {
		clear(req.Header)
		headers(i, req.Header)
	}
	check := func(i int) {
		fill(i)
		clear(rw.Header())
		rw.Code = 0
		h.ServeHTTP(rw, req)
		if rw.Code == 0 {
			rw.Code = http.StatusOK
		}
	}
	check(0)
	if rw.Code != want {
		b.Fatalf("first request answered %d, want %d", rw.Code, want)
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		fill(i)
		clear(rw.Header())
		rw.Code = 0
		h.ServeHTTP(rw, req)
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user and system CPU time of the whole process in nanoseconds: unlike ns/op
// (wall time) it includes the garbage collector's work on the other cores.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// oneToken is the benchmark token every request of a repeated-token case carries.
func oneToken(b *testing.B) string {
	tok, err := getMinter(b).Token(0)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// always answers every request with one Authorization value.
func always(auth string) func(int) string { return func(int) string { return auth } }

// BenchmarkDirect is the floor: the backend handler called with no middleware.
func BenchmarkDirect(b *testing.B) {
	serve(b, okNext, always("Bearer "+oneToken(b)), http.StatusOK)
}

// BenchmarkYaegiNoop is the cost of any Yaegi plugin: testdata/noop only calls next.
func BenchmarkYaegiNoop(b *testing.B) {
	auth := "Bearer " + oneToken(b)
	p := loadPlugin(b, noopModule, noopDir)
	h, err := p.New(context.Background(), okNext, map[string]any{}, "noop-bench")
	if err != nil {
		b.Fatal(err)
	}
	serve(b, h, always(auth), http.StatusOK)
}

// BenchmarkYaegiWithauthHit repeats one valid token: every request after the first is a cache hit.
func BenchmarkYaegiWithauthHit(b *testing.B) {
	auth := "Bearer " + oneToken(b)
	serve(b, newWithauth(b, ""), always(auth), http.StatusOK)
}

// BenchmarkYaegiWithauthHitTraefikHeaders is the cache hit with the headers a request carries
// behind Traefik: every one of them passes the identity-header strip.
func BenchmarkYaegiWithauthHitTraefikHeaders(b *testing.B) {
	auth := "Bearer " + oneToken(b)
	serveWith(b, newWithauth(b, ""), always(auth), traefikHeaders, http.StatusOK)
}

// BenchmarkYaegiWithauthMiss repeats one valid token with cacheSize 0: every request is verified.
func BenchmarkYaegiWithauthMiss(b *testing.B) {
	auth := "Bearer " + oneToken(b)
	serve(b, newWithauth(b, "0"), always(auth), http.StatusOK)
}

var (
	poolOnce sync.Once
	pool     []string
	poolErr  error
)

// BenchmarkYaegiWithauthMissDistinct cycles 20000 distinct valid tokens through the default cache
// (10000): misses plus the cache's insertion and eviction, as many distinct users would cause.
func BenchmarkYaegiWithauthMissDistinct(b *testing.B) {
	m := getMinter(b)
	poolOnce.Do(func() { pool, poolErr = m.Pool(distinctTokens) })
	if poolErr != nil {
		b.Fatal(poolErr)
	}
	auths := make([]string, len(pool))
	for i, t := range pool {
		auths[i] = "Bearer " + t
	}
	// A configuration of its own: the other cases' routes, configured alike, would share (and
	// lose) their cache to these tokens.
	h := newWithauthWith(b, "withauth-bench-distinct", map[string]any{"clockSkew": "31s"})
	// Keep the position across the calls of this function with growing b.N.
	serve(b, h, func(i int) string { missDistinctPos++; return auths[missDistinctPos%len(auths)] }, http.StatusOK)
}

var missDistinctPos int

// BenchmarkYaegiWithauthMissAlgorithm is the verification path (cacheSize 0) for each
// supported algorithm: a PEM key of the algorithm's type, tokens signed by golang-jwt.
func BenchmarkYaegiWithauthMissAlgorithm(b *testing.B) {
	m := getMinter(b)
	for _, alg := range benchAlgorithms {
		b.Run(alg, func(b *testing.B) {
			key := algorithmKey(b, m, alg)
			der, err := x509.MarshalPKIXPublicKey(key.Public())
			if err != nil {
				b.Fatal(err)
			}
			cfg := withauthConfig(m, "0")
			cfg["publicKey"] = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
			cfg["algorithms"] = alg
			h, err := loadPlugin(b, withauthModule, withauthDir).New(context.Background(), okNext, cfg, "withauth-bench-"+alg)
			if err != nil {
				b.Fatalf("withauth.New: %v", err)
			}
			token := jwt.NewWithClaims(jwt.GetSigningMethod(alg), jwt.MapClaims(tokens.Claims(0, time.Now().Add(-time.Minute), 24*time.Hour)))
			token.Header["kid"] = tokens.Kid
			signed, err := token.SignedString(key)
			if err != nil {
				b.Fatal(err)
			}
			auth := "Bearer " + signed
			serve(b, h, always(auth), http.StatusOK)
		})
	}
}

// BenchmarkYaegiWithauthMissManyPermissions is the verification path (cacheSize 0) for a token
// whose roles and permissions are 30 names each, as Frontegg's are for a user of many roles;
// the required ones come last.
func BenchmarkYaegiWithauthMissManyPermissions(b *testing.B) {
	m := getMinter(b)
	claims := tokens.Claims(0, time.Now().Add(-time.Minute), 24*time.Hour)
	roles := make([]string, 0, 30)
	permissions := make([]string, 0, 30)
	for i := 0; i < 29; i++ {
		roles = append(roles, fmt.Sprintf("role-%d", i))
		permissions = append(permissions, fmt.Sprintf("fe.secure.read.resource%d", i))
	}
	claims["roles"] = append(roles, tokens.Role)
	claims["permissions"] = append(permissions, tokens.Permission)
	signed, err := m.Sign(claims)
	if err != nil {
		b.Fatal(err)
	}
	serve(b, newWithauth(b, "0"), always("Bearer "+signed), http.StatusOK)
}

// benchAlgorithms are the algorithms withauth supports, in BENCHMARKS.md's order.
var benchAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

var (
	algorithmKeysMu sync.Mutex
	algorithmKeys   = map[string]crypto.Signer{}
)

// algorithmKey is the benchmark key of alg's type: the minter's RSA key, or an EC or Ed25519
// key made once.
func algorithmKey(b *testing.B, m *tokens.Minter, alg string) crypto.Signer {
	algorithmKeysMu.Lock()
	defer algorithmKeysMu.Unlock()
	curves := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}
	if key, ok := algorithmKeys[alg]; ok {
		return key
	}
	var key crypto.Signer = m.Key
	var err error
	if curve, ok := curves[alg]; ok {
		key, err = ecdsa.GenerateKey(curve, rand.Reader)
	} else if alg == "EdDSA" {
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		b.Fatal(err)
	}
	algorithmKeys[alg] = key
	return key
}

// BenchmarkYaegiWithauthReject sends a token whose signature does not verify, under the header
// of a real token, which the process has seen verify (as an attacker's copy of a real token).
func BenchmarkYaegiWithauthReject(b *testing.B) {
	h := newWithauth(b, "")
	valid := httptest.NewRequest(http.MethodGet, benchURL, nil)
	valid.Header.Set("Authorization", "Bearer "+oneToken(b))
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, valid)
	if rw.Code != http.StatusOK {
		b.Fatalf("a valid token: status %d; want 200", rw.Code)
	}
	auth := "Bearer " + tokens.BadSignature(oneToken(b))
	serve(b, h, always(auth), http.StatusUnauthorized)
}

// BenchmarkRSAVerifyPKCS1v15 is compiled rsa.VerifyPKCS1v15 alone on a 2048-bit key: the floor of
// any cache miss.
func BenchmarkRSAVerifyPKCS1v15(b *testing.B) {
	m := getMinter(b)
	tok, err := m.Token(0)
	if err != nil {
		b.Fatal(err)
	}
	dot := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256([]byte(tok[:dot]))
	pub := &m.Key.PublicKey
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// TestHarness checks the loading path and the answers the benchmarks rely on.
func TestHarness(t *testing.T) {
	m := getMinter(t)
	tok, err := m.Token(0)
	if err != nil {
		t.Fatal(err)
	}
	noop, err := loadPlugin(t, noopModule, noopDir).New(context.Background(), okNext, nil, "noop-test")
	if err != nil {
		t.Fatal(err)
	}
	p := loadPlugin(t, withauthModule, withauthDir)
	auth, err := p.New(context.Background(), okNext, withauthConfig(m, ""), "withauth-test")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		h    http.Handler
		auth string
		want int
	}{
		{"noop", noop, "", http.StatusOK},
		{"valid token", auth, "Bearer " + tok, http.StatusOK},
		{"valid token again (cached)", auth, "Bearer " + tok, http.StatusOK},
		{"no token", auth, "", http.StatusUnauthorized},
		{"bad signature", auth, "Bearer " + tokens.BadSignature(tok), http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://bench.local/", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rw := statuswriter.New()
		c.h.ServeHTTP(rw, req)
		if rw.Code == 0 {
			rw.Code = http.StatusOK
		}
		if rw.Code != c.want {
			t.Errorf("%s: answered %d, want %d", c.name, rw.Code, c.want)
		}
	}
}
