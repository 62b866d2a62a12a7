package withauth

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// testBudget is a budget on a fake clock whose waits last wait of real time.
func testBudget(rate float64, concurrency int, wait time.Duration) (*callBudget, *fakeClock) {
	clock := newFakeClock()
	b := newCallBudget(rate, concurrency, clock.Now, newProcessLog())
	b.maxWait = wait
	return b, clock
}

// TestBudgetShareOfOneClient: one address takes at most an eighth of the rate while the clock
// stands still; past it, it waits and is refused; another address is admitted at once.
func TestBudgetShareOfOneClient(t *testing.T) {
	t.Parallel()
	b, _ := testBudget(100, 64, 20*time.Millisecond)
	admitted := 0
	for i := 0; i < 30; i++ {
		if b.acquire("203.0.113.9", false, nil) == nil {
			admitted++
			b.release("203.0.113.9", false)
		}
	}
	if admitted != 12 {
		t.Errorf("one client asking 30 times in an instant: %d admitted; want 12 (an eighth of 100 a second)", admitted)
	}
	start := time.Now()
	if err := b.acquire("198.51.100.7", false, nil); err != nil || time.Since(start) > 10*time.Millisecond {
		t.Errorf("another client after the first spent its share: %v after %v; want admitted at once", err, time.Since(start))
	}
}

// TestBudgetReserveForRevalidations: new tokens leave a quarter of the rate and of the
// concurrency to tokens already seen active.
func TestBudgetReserveForRevalidations(t *testing.T) {
	t.Parallel()
	b, _ := testBudget(8, 8, 10*time.Millisecond)
	// Eight clients, one new token each: the rate is 8, a quarter of it (2) kept.
	admitted := 0
	for i := 0; i < 8; i++ {
		if b.acquire(fmt.Sprint("client-", i), false, nil) == nil {
			admitted++
		}
	}
	if admitted != 6 {
		t.Fatalf("8 new tokens from 8 clients, rate 8 and concurrency 8: %d admitted; want 6 (2 kept for revalidations)", admitted)
	}
	for i := 0; i < 2; i++ {
		if err := b.acquire("client-0", true, nil); err != nil {
			t.Fatalf("revalidation %d with the reserve untouched: %v; want admitted", i+1, err)
		}
	}
	if err := b.acquire("client-9", true, nil); err != errIntrospectionBusy {
		t.Fatalf("a revalidation past the whole budget: %v; want errIntrospectionBusy", err)
	}
}

// TestBudgetConcurrencyPerClient: one address holds at most half of what new tokens may have in
// flight, however much rate is left; releasing a call lets its waiting one start.
func TestBudgetConcurrencyPerClient(t *testing.T) {
	t.Parallel()
	b, _ := testBudget(1000, 8, time.Second)
	for i := 0; i < 3; i++ { // (8 - 2 reserved) / 2
		if err := b.acquire("203.0.113.9", false, nil); err != nil {
			t.Fatalf("call %d in flight: %v; want admitted", i+1, err)
		}
	}
	admitted := make(chan error, 1)
	go func() { admitted <- b.acquire("203.0.113.9", false, nil) }()
	select {
	case err := <-admitted:
		t.Fatalf("a fourth call in flight from one client: %v at once; want it to wait", err)
	case <-time.After(30 * time.Millisecond):
	}
	if err := b.acquire("198.51.100.7", false, nil); err != nil {
		t.Fatalf("another client meanwhile: %v; want admitted", err)
	}
	b.release("203.0.113.9", false)
	select {
	case err := <-admitted:
		if err != nil {
			t.Fatalf("the waiting call once one ended: %v; want admitted", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the waiting call was not admitted when one of its client's calls ended")
	}
}

// TestBudgetServesWaitingClientsInTurn: when calls wait for the rate, each waiting address is
// served in turn, so that one with many waiting calls delays another by one call, not all.
func TestBudgetServesWaitingClientsInTurn(t *testing.T) {
	t.Parallel()
	b, clock := testBudget(16, 64, 0)
	b.clientRate = 16 // this test is of the turns, not of the shares
	for b.acquire("flood", false, nil) == nil {
	}
	b.maxWait = 5 * time.Second
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for i := 0; i < maxWaitersPerClient; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b.acquire("flood", false, nil) == nil {
				mu.Lock()
				order = append(order, "flood")
				mu.Unlock()
			}
		}()
	}
	waitFor(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.clients["flood"].waiting) == maxWaitersPerClient
	})
	start := time.Now()
	if err := b.acquire("flood", false, nil); err != errIntrospectionBusy || time.Since(start) > time.Second {
		t.Errorf("a ninth waiting call of one client: %v after %v; want errIntrospectionBusy at once", err, time.Since(start))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if b.acquire("alice", false, nil) == nil {
			mu.Lock()
			order = append(order, "alice")
			mu.Unlock()
		}
	}()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.clients["alice"] != nil })
	// One call's worth of rate: the flood's first waiting call; one more: Alice's, not the
	// flood's second.
	clock.Advance(time.Second / 16)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 1 })
	clock.Advance(time.Second / 16)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 2 })
	mu.Lock()
	if order[0] != "flood" || order[1] != "alice" {
		t.Errorf("served %v; want the flood's first waiting call, then Alice's", order)
	}
	mu.Unlock()
	clock.Advance(time.Hour)
	wg.Wait()
}

// TestBudgetForgetsIdleClients: a client with nothing in flight or waiting, and its share back,
// is not kept.
func TestBudgetForgetsIdleClients(t *testing.T) {
	t.Parallel()
	b, clock := testBudget(100, 8, time.Millisecond)
	for i := 0; i < 1000; i++ {
		client := fmt.Sprint("198.51.100.", i)
		if err := b.acquire(client, false, nil); err != nil {
			clock.Advance(time.Second)
			continue
		}
		b.release(client, true)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.clients) != 0 {
		t.Errorf("after 1000 clients each made one call and gave it back: %d remembered; want 0", len(b.clients))
	}
}

// TestClientAddress: X-Real-Ip as Traefik sets it, else the connection's address; IPv6 by /64.
func TestClientAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ realIP, remote, want string }{
		{"", "203.0.113.9:40000", "203.0.113.9"},
		{"198.51.100.7", "10.0.0.2:443", "198.51.100.7"},
		{"", "[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "10.0.0.2:443", "2001:db8:1:2::/64"},
	} {
		req := httptest.NewRequest("GET", "http://backend.example/", nil)
		req.RemoteAddr = tc.remote
		if tc.realIP != "" {
			req.Header.Set("X-Real-Ip", tc.realIP)
		}
		if got := clientAddress(req); got != tc.want {
			t.Errorf("X-Real-Ip %q, connection %s: %q; want %q", tc.realIP, tc.remote, got, tc.want)
		}
	}
}

// waitFor polls condition for up to 5 s of real time: another goroutine is to make it true.
func waitFor(t *testing.T, condition func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatal("the condition did not become true within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
