package withauth

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// The verification path stage by stage, on the benchmarks' route (PEM key, roles admin) and a
// Frontegg-shaped token. Run under Yaegi, they show where an interpreted cache miss spends its
// time: yaegi test -bench Stage -benchmem . (BENCHMARKS.md's profile). Each loop calls its stage
// itself: a shared helper taking a closure would add a closure call (about 0.8 µs and 13
// allocations under Yaegi) to every figure.

func stageMiddleware(b *testing.B) *Middleware {
	config := pemConfig(b)
	config.Roles = []string{"admin"}
	config.CacheSize = 0
	m, ok := newHandler(b, config, http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {})).(*Middleware)
	if !ok {
		b.Fatal("New did not return a *Middleware")
	}
	return m
}

func stageToken(b *testing.B, m *Middleware) (*jose.Token, *jose.Key) {
	raw, err := jose.Parse(validToken(b), m.algorithms, nil)
	if err != nil {
		b.Fatalf("parseToken: %v", err)
	}
	key, err := lookupKey(context.Background(), m.trust.only.keys, raw.Kid)
	if err != nil {
		b.Fatalf("lookup: %v", err)
	}
	return raw, key
}

func BenchmarkStageCredentials(b *testing.B) {
	m := stageMiddleware(b)
	req := request(validToken(b))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := credentials(&m.sources, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStageParse(b *testing.B) {
	m := stageMiddleware(b)
	token := validToken(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := jose.Parse(token, m.algorithms, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStageParseKnownHeader(b *testing.B) {
	m := stageMiddleware(b)
	token := validToken(b)
	header, err := jose.ParseHeader(jose.HeaderText(token), m.algorithms)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := jose.Parse(token, m.algorithms, header); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStageKeyLookup(b *testing.B) {
	m := stageMiddleware(b)
	raw, _ := stageToken(b, m)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := lookupKey(ctx, m.trust.only.keys, raw.Kid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStageKeyLookupJWKS(b *testing.B) {
	config := jwksConfig(b, newKeyServer(b))
	m, ok := newHandler(b, config, http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {})).(*Middleware)
	if !ok {
		b.Fatal("New did not return a *Middleware")
	}
	ctx := context.Background()
	if _, err := lookupKey(ctx, m.trust.only.keys, "key-1"); err != nil {
		b.Fatalf("lookupKey: %v", err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := lookupKey(ctx, m.trust.only.keys, "key-1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStageSignature(b *testing.B) {
	m := stageMiddleware(b)
	raw, key := stageToken(b, m)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := jose.Verify(raw, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStageDecodeClaims(b *testing.B) {
	m := stageMiddleware(b)
	raw, _ := stageToken(b, m)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := jose.DecodeClaims(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStageValidateClaims(b *testing.B) {
	m := stageMiddleware(b)
	raw, _ := stageToken(b, m)
	claims, err := jose.DecodeClaims(raw)
	if err != nil {
		b.Fatal(err)
	}
	nowSeconds := float64(time.Now().Unix())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := jose.ValidateClaims(&m.trust.only.rules, claims, nowSeconds); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStageGrant(b *testing.B) {
	m := stageMiddleware(b)
	raw, key := stageToken(b, m)
	claims, err := jose.DecodeClaims(raw)
	if err != nil {
		b.Fatal(err)
	}
	trusted := m.trust.only
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if g := newGrant(&m.tokenRules, claims, &signedToken{raw: raw, key: key, trusted: trusted}, 1<<62); !g.allowed {
			b.Fatal("the grant does not allow the token")
		}
	}
}

func BenchmarkStageConditions(b *testing.B) {
	m := stageMiddleware(b)
	raw, _ := stageToken(b, m)
	claims, err := jose.DecodeClaims(raw)
	if err != nil {
		b.Fatal(err)
	}
	c, err := newConditions(`!Equals("type", "tenantApiToken") && Prefix("email", "ada@") && Contains("roles", "admin") && OneOf("metadata.plan", "pro", "enterprise") && !Equals("suspended", "true")`)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !holds(c, claims) {
			b.Fatal("the conditions do not hold")
		}
	}
}

func BenchmarkStageVerify(b *testing.B) {
	m := stageMiddleware(b)
	token := validToken(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := verify(ctx, &m.tokenRules, token, "", fromAuthorization, time.Now().UnixNano()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStageRefuse(b *testing.B) {
	m := stageMiddleware(b)
	req := request("")
	rw := &statusWriter{header: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		refuse(m, rw, req, errBadSignature, "")
	}
}
