// Package constructs times single Go constructs under Yaegi: each exported function runs its
// construct n times, so the benchmark's ns/op is the construct's cost plus one loop iteration
// (Loop alone). It guides where interpreted plugin code spends its time.
package constructs

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/seed0ec25cca/constructs/sub"
)

type grant struct {
	kid     string
	expires int64
	values  []string
}

type state struct {
	n     int
	mu    sync.Mutex
	cache map[string]*grant
	names []string
}

type getter interface{ get() int }

type impl struct{ v int }

func (i *impl) get() int { return i.v }

func (s *state) method(x int) int { return x + 1 }

func (s state) valueMethod(x int) int { return x + 1 }

func function(x int) int { return x + 1 }

func functionPtr(s *state, x int) int { return x + s.n }

func withRecover(x int) (r int) {
	defer func() {
		if p := recover(); p != nil {
			r = 0
		}
	}()
	return x + 1
}

func withNamedRecover(x int) (r int) {
	defer recoverInto(&r)
	return x + 1
}

func recoverInto(r *int) {
	if recover() != nil {
		*r = 0
	}
}

func twoResults(x int) (int, bool) { return x + 1, true }

// large returns x+1 on its common path; its rare path has many locals and temporaries, which
// Yaegi allocates on every call all the same (one reflect.New per frame slot).
func large(x int) int {
	if x >= 0 {
		return x + 1
	}
	a, b, c, d := x*2, x*3, x*4, x*5
	e, f, g, h := a+b, c+d, a*c, b*d
	s := []int{a, b, c, d, e, f, g, h}
	t := map[string]int{"a": a, "b": b}
	u := strings.Repeat("x", len(s)+len(t))
	v := strings.ToUpper(u) + strings.ToLower(u)
	w := len(v) + e*f - g/(h+1)
	return w + s[0] + t["a"]
}

func kind(v interface{}) int {
	switch x := v.(type) {
	case string:
		return len(x)
	case float64:
		return int(x)
	case bool:
		return 1
	case []interface{}:
		return len(x)
	}
	return 0
}

func newState() *state {
	return &state{
		n:     1,
		cache: map[string]*grant{"eyJhbGciOiJSUzI1NiJ9.token": {kid: "k", expires: 1 << 40}},
		names: []string{"X-User-Id", "X-Tenant-Id", "X-User-Email", "X-User-Roles", "X-User-Permissions"},
	}
}

// Loop is the loop alone.
func Loop(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i
	}
	return s
}

// Function calls a package-level function.
func Function(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s = function(s)
	}
	return s
}

// CrossPackageFunction calls a function of another package of the module (sub.Function, the
// same body as function): what calling into internal/jose costs beside a call in the package.
func CrossPackageFunction(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s = sub.Function(s)
	}
	return s
}

// CrossPackageResult calls a function of another package that returns a pointer to one of its
// types, and reads a field: a parser's shape across the boundary.
func CrossPackageResult(n int) int64 {
	var s int64
	for i := 0; i < n; i++ {
		s += sub.Parse(i).Exp
	}
	return s
}

// LocalResult is CrossPackageResult within the package.
func LocalResult(n int) int64 {
	var s int64
	for i := 0; i < n; i++ {
		s += parse(i).exp
	}
	return s
}

type parsed struct {
	kid string
	exp int64
}

func parse(x int) *parsed { return &parsed{kid: "k", exp: int64(x)} }

// FunctionPtrArg calls a package-level function that takes the struct pointer: the method-free
// spelling of Method.
func FunctionPtrArg(n int) int {
	st, s := newState(), 0
	for i := 0; i < n; i++ {
		s = functionPtr(st, s)
	}
	return s
}

// TwoResults calls a function returning two values.
func TwoResults(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s, _ = twoResults(s)
	}
	return s
}

// LargeFunction calls a function whose untaken branch has many locals (compare Function).
func LargeFunction(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s = large(s)
	}
	return s
}

// TypeSwitch calls a function that type-switches an interface{} holding a string.
func TypeSwitch(n int) int {
	var v interface{} = "admin"
	s := 0
	for i := 0; i < n; i++ {
		s += kind(v)
	}
	return s
}

// Method calls a pointer-receiver method of an interpreted type.
func Method(n int) int {
	st, s := newState(), 0
	for i := 0; i < n; i++ {
		s = st.method(s)
	}
	return s
}

// ValueMethod calls a value-receiver method of an interpreted type.
func ValueMethod(n int) int {
	st, s := newState(), 0
	for i := 0; i < n; i++ {
		s = st.valueMethod(s)
	}
	return s
}

// InterfaceMethod calls a method through an interface holding an interpreted type.
func InterfaceMethod(n int) int {
	var g getter = &impl{v: 1}
	s := 0
	for i := 0; i < n; i++ {
		s += g.get()
	}
	return s
}

// Closure calls a function literal held in a variable.
func Closure(n int) int {
	f := func(x int) int { return x + 1 }
	s := 0
	for i := 0; i < n; i++ {
		s = f(s)
	}
	return s
}

// DeferRecover calls a function that defers a recovering closure.
func DeferRecover(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s = withRecover(s)
	}
	return s
}

// DeferNamedRecover calls a function that defers a named recovering function.
func DeferNamedRecover(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s = withNamedRecover(s)
	}
	return s
}

// MutexLockUnlock locks and unlocks a sync.Mutex field.
func MutexLockUnlock(n int) int {
	st := newState()
	for i := 0; i < n; i++ {
		st.mu.Lock()
		st.n++
		st.mu.Unlock()
	}
	return st.n
}

// MapLookup looks a token up in a map[string]*grant field and reads the grant.
func MapLookup(n int) int {
	st, s := newState(), 0
	tok := "eyJhbGciOiJSUzI1NiJ9.token"
	for i := 0; i < n; i++ {
		if g := st.cache[tok]; g != nil && g.expires > 0 {
			s++
		}
	}
	return s
}

// TimeNowUnix calls time.Now().Unix().
func TimeNowUnix(n int) int {
	var s int64
	for i := 0; i < n; i++ {
		s += time.Now().Unix()
	}
	return int(s & 1)
}

// StdlibCall calls a compiled standard-library function (strings.EqualFold).
func StdlibCall(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		if strings.EqualFold("Bearer ", "bearer ") {
			s++
		}
	}
	return s
}

// HeaderDelete deletes an absent key from an http.Header.
func HeaderDelete(n int) int {
	h := http.Header{"Authorization": {"Bearer x"}}
	for i := 0; i < n; i++ {
		delete(h, "X-User-Id")
	}
	return len(h)
}

// HeaderSet sets a header to a one-element slice.
func HeaderSet(n int) int {
	h := http.Header{}
	for i := 0; i < n; i++ {
		h["X-User-Id"] = []string{"6b3c1a2e"}
	}
	return len(h)
}

// RangeStrings ranges over a five-string slice field (one iteration per op: ns/op ÷ 5 per item).
func RangeStrings(n int) int {
	st, s := newState(), 0
	for i := 0; i < n; i++ {
		for _, name := range st.names {
			s += len(name)
		}
	}
	return s
}
