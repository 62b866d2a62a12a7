package withauth

// An endpoint's budget of calls, shared fairly by the clients whose tokens need them: no client
// address can take more than its share, and calls that revalidate tokens already seen active
// keep a part of the budget no new token can use.

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	// maxBudgetWait is how long a request waits for its turn before it is answered 429.
	maxBudgetWait = time.Second
	// maxWaitersPerClient bounds the requests of one client address waiting at a time; more are
	// answered 429 at once. maxWaitingClients bounds the addresses waiting at a time.
	maxWaitersPerClient = 8
	maxWaitingClients   = 10000
	// maxTrackedClients bounds the addresses a budget remembers; past it, those with nothing in
	// flight or waiting are forgotten.
	maxTrackedClients = 100000
)

// callBudget admits calls to one endpoint: at most ratePerSecond a second (a token bucket of a
// second's calls) and concurrency at a time. A quarter of both is kept for revalidations, and
// one client address may hold at most an eighth of the rate and half of the remaining
// concurrency. Past them a call waits its turn, the waiting addresses served in turn, for at
// most maxWait; then it is refused (errIntrospectionBusy), never let through.
type callBudget struct {
	now           func() time.Time
	log           *processLog
	ratePerSecond float64
	concurrency   int
	reservedCalls float64 // tokens of the bucket new tokens may not take
	reservedSlots int     // calls in flight new tokens may not take
	clientRate    float64 // a client's share of the rate, a second
	clientSlots   int     // a client's share of the calls in flight
	maxWait       time.Duration

	mu            sync.Mutex
	wakeupPending bool // a timer will dispatch the waiting calls
	tokens        float64
	refilledNanos int64
	inFlight      int
	clients       map[string]*clientShare // clients with calls in flight, waiting, or spent
	turns         []string                // clients with waiting calls, in the order they are served
}

// clientShare is one client address's use of a budget: its own bucket of clientRate, its calls
// in flight and those waiting.
type clientShare struct {
	tokens        float64
	refilledNanos int64
	inFlight      int
	waiting       []*budgetWaiter
}

// budgetWaiter is one call waiting its turn; ready is closed when it is admitted.
type budgetWaiter struct {
	ready        chan struct{}
	admitted     bool
	revalidation bool
}

func newCallBudget(ratePerSecond float64, concurrency int, now func() time.Time, log *processLog) *callBudget {
	b := &callBudget{now: now, log: log, ratePerSecond: ratePerSecond, concurrency: concurrency, maxWait: maxBudgetWait,
		tokens: ratePerSecond, refilledNanos: now().UnixNano(), clients: make(map[string]*clientShare)}
	b.reservedCalls = ratePerSecond / 4
	b.reservedSlots = concurrency / 4
	b.clientRate = ratePerSecond / 8
	if b.clientRate < 1 {
		b.clientRate = 1
	}
	b.clientSlots = (concurrency - b.reservedSlots) / 2
	if b.clientSlots < 1 {
		b.clientSlots = 1
	}
	return b
}

// acquire takes a call for client (its address), waiting its turn for at most maxWait; a
// revalidation (a token already seen active) may use the reserved part. errIntrospectionBusy
// when the turn does not come; then nothing is taken.
func (b *callBudget) acquire(client string, revalidation bool, done <-chan struct{}) error {
	b.mu.Lock()
	b.refill()
	share := b.share(client)
	if len(b.turns) == 0 && b.canStart(share, revalidation) || revalidation && b.canStart(share, true) {
		b.start(share)
		b.mu.Unlock()
		return nil
	}
	if len(share.waiting) >= maxWaitersPerClient || len(share.waiting) == 0 && len(b.turns) >= maxWaitingClients {
		b.forgetIdle(client, share)
		b.mu.Unlock()
		return errIntrospectionBusy
	}
	w := &budgetWaiter{ready: make(chan struct{}), revalidation: revalidation}
	if len(share.waiting) == 0 {
		b.turns = append(b.turns, client)
	}
	share.waiting = append(share.waiting, w)
	b.scheduleDispatch()
	b.mu.Unlock()

	timer := time.NewTimer(b.maxWait)
	defer timer.Stop()
	select {
	case <-w.ready:
		return nil
	case <-timer.C:
	case <-done:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.admitted {
		return nil
	}
	b.removeWaiter(client, share, w)
	return errIntrospectionBusy
}

// release ends a call of client and lets the waiting calls that now can start begin; unused
// gives its rate back, for a call that was not made after all.
func (b *callBudget) release(client string, unused bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight--
	if unused {
		b.tokens++
	}
	if share := b.clients[client]; share != nil {
		share.inFlight--
		if unused {
			share.tokens++
		}
		b.forgetIdle(client, share)
	}
	b.dispatch()
}

// share is client's share, made on first use; b.mu is held.
func (b *callBudget) share(client string) *clientShare {
	share := b.clients[client]
	if share == nil {
		if len(b.clients) >= maxTrackedClients {
			for known, other := range b.clients {
				refillBucket(&other.tokens, &other.refilledNanos, b.clientRate, b.clientRate, b.refilledNanos)
				b.forgetIdle(known, other)
			}
		}
		share = &clientShare{tokens: b.clientRate, refilledNanos: b.refilledNanos}
		b.clients[client] = share
	}
	refillBucket(&share.tokens, &share.refilledNanos, b.clientRate, b.clientRate, b.refilledNanos)
	return share
}

// forgetIdle drops the share of a client with nothing in flight or waiting whose bucket is
// full again, so that the budget remembers only the clients it is busy with; b.mu is held.
func (b *callBudget) forgetIdle(client string, share *clientShare) {
	if share.inFlight == 0 && len(share.waiting) == 0 && share.tokens >= b.clientRate {
		delete(b.clients, client)
	}
}

// canStart reports whether a call of share may start now; b.mu is held.
func (b *callBudget) canStart(share *clientShare, revalidation bool) bool {
	if b.tokens < 1 || b.inFlight >= b.concurrency {
		return false
	}
	if revalidation {
		return true
	}
	return b.tokens >= 1+b.reservedCalls && b.inFlight < b.concurrency-b.reservedSlots &&
		share.tokens >= 1 && share.inFlight < b.clientSlots
}

// start takes a call for share; b.mu is held.
func (b *callBudget) start(share *clientShare) {
	b.tokens--
	b.inFlight++
	share.tokens--
	share.inFlight++
}

// refill adds the tokens the time since the last refill gives, by the injected clock; b.mu is held.
func (b *callBudget) refill() {
	refillBucket(&b.tokens, &b.refilledNanos, b.ratePerSecond, b.ratePerSecond, b.now().UnixNano())
}

// refillBucket adds rate tokens a second since *refilledNanos to *tokens, up to capacity.
func refillBucket(tokens *float64, refilledNanos *int64, rate, capacity float64, nowNanos int64) {
	if elapsed := nowNanos - *refilledNanos; elapsed > 0 {
		*tokens += float64(elapsed) / 1e9 * rate
		if *tokens > capacity {
			*tokens = capacity
		}
		*refilledNanos = nowNanos
	}
}

// dispatch admits the waiting calls that can start: revalidations first, then one call of each
// waiting client in turn; b.mu is held.
func (b *callBudget) dispatch() {
	b.refill()
	for progress := true; progress && len(b.turns) > 0; {
		progress = false
		for i := 0; i < len(b.turns); i++ {
			client := b.turns[i]
			share := b.share(client)
			w := share.waiting[0]
			if !b.canStart(share, w.revalidation) {
				continue
			}
			b.start(share)
			w.admitted = true
			close(w.ready)
			share.waiting = share.waiting[1:]
			// Served: to the back of the turns, or out of them.
			b.turns = append(b.turns[:i], b.turns[i+1:]...)
			if len(share.waiting) > 0 {
				b.turns = append(b.turns, client)
			}
			progress = true
			break
		}
	}
	b.scheduleDispatch()
}

// scheduleDispatch arranges for dispatch to run again once the bucket has refilled a little,
// while calls wait; b.mu is held. The timer counts real time, the bucket the injected clock.
func (b *callBudget) scheduleDispatch() {
	if len(b.turns) == 0 || b.wakeupPending {
		return
	}
	b.wakeupPending = true
	wait := time.Duration(float64(time.Second) / b.ratePerSecond)
	if wait < time.Millisecond {
		wait = time.Millisecond
	}
	time.AfterFunc(wait, b.wakeUp)
}

// wakeUp is scheduleDispatch's timer: a panic in it would end Traefik, so it is recovered.
func (b *callBudget) wakeUp() {
	defer func() {
		if p := recover(); p != nil {
			b.log.errorf("withauth: introspection budget: panic: %v", p)
		}
	}()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.wakeupPending = false
	b.dispatch()
}

// removeWaiter takes a call that gave up out of its client's queue; b.mu is held.
func (b *callBudget) removeWaiter(client string, share *clientShare, w *budgetWaiter) {
	for i, waiting := range share.waiting {
		if waiting == w {
			share.waiting = append(share.waiting[:i:i], share.waiting[i+1:]...)
			break
		}
	}
	if len(share.waiting) == 0 {
		for i, turn := range b.turns {
			if turn == client {
				b.turns = append(b.turns[:i:i], b.turns[i+1:]...)
				break
			}
		}
	}
	b.forgetIdle(client, share)
}

// clientAddress is the address a request's budget share is counted by: X-Real-Ip as Traefik's
// entry point sets it (the connection's address, or with forwardedHeaders.trustedIPs the one a
// trusted proxy in front gave), else the connection's address itself. An IPv6 address counts
// by its /64, which one host can hold whole.
func clientAddress(req *http.Request) string {
	address := ""
	if values := req.Header["X-Real-Ip"]; len(values) > 0 {
		address = strings.TrimSpace(values[0])
	}
	if address == "" {
		address = req.RemoteAddr
		if host, _, err := net.SplitHostPort(address); err == nil {
			address = host
		}
	}
	if ip := net.ParseIP(address); ip != nil && ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return address
}
