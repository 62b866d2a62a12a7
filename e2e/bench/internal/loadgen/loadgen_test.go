package loadgen_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/bench/internal/loadgen"
	"github.com/seed0ec25cca/withauth/e2e/bench/internal/origin"
)

func TestAgainstOrigin(t *testing.T) {
	o, err := origin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	res, err := loadgen.Run(loadgen.Config{
		Addr:     o.Addr(),
		Requests: [][]byte{loadgen.Request(o.Addr(), "/x", map[string]string{"Authorization": "Bearer t"})},
		Conns:    4, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Status[200] != res.Requests || res.P50 <= 0 || res.P99 < res.P50 {
		t.Fatalf("unexpected result %+v", res)
	}
}

// TestAgainstNetHTTP checks the answer parsing on net/http's framing: Content-Length, chunked
// bodies and error answers.
func TestAgainstNetHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			rw.Write([]byte(strings.Repeat("a", 100)))
			rw.(http.Flusher).Flush()
			rw.Write([]byte("b"))
		case "/denied":
			http.Error(rw, "no", http.StatusUnauthorized)
		default:
			rw.Write([]byte("ok"))
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	res, err := loadgen.Run(loadgen.Config{
		Addr: addr,
		Requests: [][]byte{
			loadgen.Request(addr, "/chunked", nil),
			loadgen.Request(addr, "/denied", nil),
			loadgen.Request(addr, "/", nil),
		},
		Conns: 2, Duration: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Status[200] == 0 || res.Status[401] == 0 {
		t.Fatalf("unexpected result %+v", res)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, a := range []string{"10.0.0.1:80", "192.168.1.1:80", "8.8.8.8:53"} {
		if loadgen.CheckLoopback(a) == nil {
			t.Errorf("%s accepted", a)
		}
	}
	for _, a := range []string{"127.0.0.1:80", "[::1]:80", "localhost:80"} {
		if err := loadgen.CheckLoopback(a); err != nil {
			t.Errorf("%s refused: %v", a, err)
		}
	}
}
