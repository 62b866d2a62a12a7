package withauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// What every test shares: the upstream, the test's process and the handlers built in it, requests
// and their answers. Tokens are in tokens_test.go, the token cases' runner in cases_test.go, the
// key server in keyserver_test.go, the clock in clock_test.go. Yaegi runs these tests too: every
// function literal names its parameters, structs that go into interfaces have a field, and loop
// variables are copied before they are captured.

// upstream is the protected service: it counts the requests that reach it and keeps the
// headers of the last one; check, if set, inspects each. Safe for concurrent requests.
type upstream struct {
	calls  atomic.Int64
	check  func(req *http.Request)
	mu     sync.Mutex
	header http.Header
}

func (u *upstream) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	u.calls.Add(1)
	if u.check != nil {
		u.check(req)
	}
	u.mu.Lock()
	u.header = req.Header.Clone()
	u.mu.Unlock()
	rw.WriteHeader(http.StatusOK)
}

// testProcesses hold the process of each running test: the handlers a test builds share one, as
// the middlewares of one Traefik do, and no two tests share any state.
var testProcesses = struct {
	mu     sync.Mutex
	byTest map[string]*process
}{byTest: map[string]*process{}}

// testProcess is the test's process, made on first use and forgotten when the test that made it
// ends; a test's subtests share it, as a test's handlers do.
func testProcess(t testing.TB) *process {
	testProcesses.mu.Lock()
	defer testProcesses.mu.Unlock()
	name := strings.SplitN(t.Name(), "/", 2)[0]
	p := testProcesses.byTest[name]
	if p == nil {
		p = newProcess()
		testProcesses.byTest[name] = p
		t.Cleanup(func() {
			testProcesses.mu.Lock()
			delete(testProcesses.byTest, name)
			testProcesses.mu.Unlock()
		})
	}
	return p
}

// newHandler is New in the test's process, the configuration given as Traefik gives it
// (asGiven), failing the test if the configuration is refused.
func newHandler(t testing.TB, config *Config, next http.Handler) http.Handler {
	t.Helper()
	config = asGiven(config)
	handler := handlerIn(testProcess(t), next, config, "test")
	if _, refused := handler.(misconfigured); refused {
		_, err := build(testProcess(t), next, config, "test")
		t.Fatalf("New refused the configuration: %v; want a middleware", err)
	}
	return handler
}

// newError is the line New logs for a configuration it refuses (given as typed fields, as a Go
// caller gives them: the Given path's own refusals are decode_test.go's), after checking that its
// handler answers 500 "misconfigured" to a valid token and never calls the upstream; a test
// failure when New accepts the configuration.
func newError(t *testing.T, config *Config) string {
	t.Helper()
	next := &upstream{}
	handler := handlerIn(testProcess(t), next, config, "route")
	rec, _ := serve(handler, request(validToken(t)))
	if rec.Code != http.StatusInternalServerError || bodyField(rec.Body.Bytes(), "reason") != "misconfigured" || next.calls.Load() != 0 {
		t.Fatalf("New accepted the configuration: a valid token got %d %s, upstream called %d times; want 500 reason misconfigured and no upstream call",
			rec.Code, rec.Body.String(), next.calls.Load())
	}
	_, err := build(testProcess(t), next, config, "route")
	if err == nil {
		t.Fatal("build accepted the configuration New refused")
	}
	return refusedConfiguration("route", err)
}

func pemConfig(t testing.TB) *Config {
	config := CreateConfig()
	config.PublicKey = string(readFixture(t, "keys/key-1.pub.pem"))
	return config
}

// givenConfig is a configuration as Traefik hands it over: every key in Given (the typed fields
// left as CreateConfig made them), with publicKey set to key-1's PEM key unless given.
func givenConfig(t testing.TB, given map[string]interface{}) *Config {
	config := CreateConfig()
	config.Given = map[string]interface{}{}
	if _, ok := given["publicKey"]; !ok {
		config.Given["publicKey"] = string(readFixture(t, "keys/key-1.pub.pem"))
	}
	for key, value := range given {
		config.Given[key] = value
	}
	return config
}

// givenKeySourceConfig is givenConfig for a configuration that names its own key source: no
// publicKey is added.
func givenKeySourceConfig(t testing.TB, given map[string]interface{}) *Config {
	config := givenConfig(t, given)
	if _, ok := given["publicKey"]; !ok {
		delete(config.Given, "publicKey")
	}
	return config
}

func request(token string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "http://backend.example/admin", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// serve runs one request through handler and times it.
func serve(handler http.Handler, req *http.Request) (*httptest.ResponseRecorder, time.Duration) {
	rec := httptest.NewRecorder()
	start := time.Now()
	handler.ServeHTTP(rec, req)
	return rec, time.Since(start)
}

// serveTwice sends the same request twice through handler (a verification, then a cache hit)
// and returns what the upstream received the second time.
func serveTwice(t *testing.T, handler http.Handler, next *upstream, build func() *http.Request) http.Header {
	t.Helper()
	for i := 0; i < 2; i++ {
		next.calls.Store(0)
		if rec, _ := serve(handler, build()); rec.Code != http.StatusOK || next.calls.Load() != 1 {
			t.Fatalf("request %d: status %d (%s), upstream called %d times; want 200 and once", i+1, rec.Code, errorDescription(rec), next.calls.Load())
		}
	}
	return next.header
}

// errorDescription is the error_description of a JSON error answer, or "".
func errorDescription(rec *httptest.ResponseRecorder) string {
	var body map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return body["error_description"]
}

// freshStore empties the grants of the test's process: the caches of the handlers it builds
// from then on hold only what it puts there.
func freshStore(t testing.TB) {
	testProcess(t).grants = newTokenStore(maxStoreBytes)
}

// failures collects failures from many goroutines and reports the first few.
type failures struct {
	mu    sync.Mutex
	count int
	first []string
}

func (f *failures) add(message string) {
	f.mu.Lock()
	f.count++
	if len(f.first) < 10 {
		f.first = append(f.first, message)
	}
	f.mu.Unlock()
}

func (f *failures) report(t testing.TB, what string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.count > 0 {
		t.Errorf("%d %s; the first ones:\n  %s", f.count, what, strings.Join(f.first, "\n  "))
	}
}

// settledGoroutines waits until at most limit goroutines run, or until the deadline, and
// returns the count: goroutines of finished HTTP exchanges take a moment to end, in real time.
func settledGoroutines(limit int, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		// Real time, not a clock: the runtime ends those goroutines when it gets to them.
		time.Sleep(10 * time.Millisecond)
	}
}

// heapAfterGC is the live heap after full collections.
func heapAfterGC() uint64 {
	var stats runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&stats)
	return stats.HeapAlloc
}

// bodyField is one member of a JSON error answer, or "".
func bodyField(body []byte, name string) string {
	var fields map[string]string
	_ = json.Unmarshal(body, &fields)
	return fields[name]
}

// asGiven is config as Traefik hands it over: every setting that differs from CreateConfig's
// default in Given, in the shapes a provider gives (a string, a list, a boolean, a number, an
// object), so that the tests build middlewares through the path Traefik takes (decode.go). The
// clock stays.
func asGiven(config *Config) *Config {
	if config == nil || config.Given != nil {
		return config
	}
	value, defaults := reflect.ValueOf(config).Elem(), reflect.ValueOf(CreateConfig()).Elem()
	given := map[string]interface{}{}
	for _, s := range settings {
		key := s.key
		named := func(name string) bool { return strings.EqualFold(name, key) }
		field := value.FieldByNameFunc(named).Interface()
		if !reflect.DeepEqual(field, defaults.FieldByNameFunc(named).Interface()) {
			given[key] = givenShape(field)
		}
	}
	return &Config{Given: given, Now: config.Now}
}

// givenShape is a typed setting as a provider hands it over.
func givenShape(v interface{}) interface{} {
	switch typed := v.(type) {
	case []string:
		if typed == nil {
			return nil
		}
		items := make([]interface{}, len(typed))
		for i, item := range typed {
			items[i] = item
		}
		return items
	case map[string]string:
		object := make(map[string]interface{}, len(typed))
		for name, claim := range typed {
			object[name] = claim
		}
		return object
	case []IssuerConfig:
		entries := make([]interface{}, len(typed))
		for i, entry := range typed {
			object := map[string]interface{}{"issuer": entry.Issuer}
			if entry.JWKSURL != "" {
				object["jwksUrl"] = entry.JWKSURL
			}
			if entry.Audience != nil {
				object["audience"] = givenShape(entry.Audience)
			}
			entries[i] = object
		}
		return entries
	}
	return v
}
