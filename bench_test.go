package withauth

import (
	"net/http"
	"testing"
)

func benchmarkHandler(b *testing.B, cacheSize int) http.Handler {
	config := pemConfig(b)
	config.Roles = []string{"admin"}
	config.CacheSize = cacheSize
	return newHandler(b, config, http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {}))
}

// statusWriter keeps the status of the last answer and discards its body.
type statusWriter struct {
	header http.Header
	status int
}

func (w *statusWriter) Header() http.Header { return w.header }

func (w *statusWriter) Write(p []byte) (int, error) { return len(p), nil }

func (w *statusWriter) WriteHeader(status int) { w.status = status }

func serveBenchmark(b *testing.B, handler http.Handler, tokens []string, wantStatus int) {
	req := request(tokens[0])
	rw := &statusWriter{header: http.Header{}}
	credentials := make([][]string, len(tokens))
	for i, token := range tokens {
		credentials[i] = []string{"Bearer " + token}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.Header["Authorization"] = credentials[i%len(tokens)]
		rw.status = http.StatusOK
		handler.ServeHTTP(rw, req)
	}
	b.StopTimer()
	if rw.status != wantStatus {
		b.Fatalf("status %d; want %d", rw.status, wantStatus)
	}
}

func BenchmarkCacheHit(b *testing.B) {
	serveBenchmark(b, benchmarkHandler(b, 10000), []string{validToken(b)}, 200)
}

func BenchmarkCacheMiss(b *testing.B) {
	serveBenchmark(b, benchmarkHandler(b, 0), []string{validToken(b)}, 200)
}

// BenchmarkRejectedToken: a forged token under the header of a real token, which the process
// has seen verify (an attacker's copy of a real token).
func BenchmarkRejectedToken(b *testing.B) {
	handler := benchmarkHandler(b, 10000)
	if rec, _ := serve(handler, request(validToken(b))); rec.Code != http.StatusOK {
		b.Fatalf("a valid token: status %d; want 200", rec.Code)
	}
	serveBenchmark(b, handler, []string{tamperedPayload(b)}, 401)
}
