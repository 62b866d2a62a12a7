package withauth

// DPoP nonces (RFC 9449 §8-9): stateless, made from dpopNonceSecret and the time, so that every
// replica given the same secret issues and accepts the same nonces, with nothing to share.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

const (
	// minNonceSecretBytes is the least dpopNonceSecret: a nonce is an HMAC-SHA-256 of it.
	minNonceSecretBytes = 32
	// nonceBytes is a nonce's length before base64url: its window (8 bytes) and 16 bytes of MAC.
	nonceBytes = 8 + 16
)

// nonceRule issues and judges a route's nonces. Time is cut into windows of half of
// dpopNonceLifetime; a nonce names its window and is accepted in it and the next, so it lives
// between half of the lifetime and all of it, and a fresh one is offered from its second window.
type nonceRule struct {
	secret      []byte
	windowNanos int64

	mu           sync.Mutex
	issued       string // the last nonce issued, "" before the first
	issuedWindow int64  // its window
}

// newNonceRule checks dpopNonce, dpopNonceSecret and dpopNonceLifetime; nil when nonces are off.
func newNonceRule(config *Config) (*nonceRule, error) {
	switch strings.TrimSpace(config.DPoPNonce) {
	case "", "off":
		if config.DPoPNonceSecret != "" || config.DPoPNonceLifetime != "" {
			return nil, errors.New("dpopNonceSecret and dpopNonceLifetime apply with dpopNonce: required; set it or remove them")
		}
		return nil, nil
	case "required":
	default:
		return nil, fmt.Errorf("dpopNonce: %q is not a setting; use off or required (proofs must carry a nonce this Traefik, or a replica with the same dpopNonceSecret, issued)", config.DPoPNonce)
	}
	if len(config.DPoPNonceSecret) < minNonceSecretBytes {
		return nil, fmt.Errorf("dpopNonceSecret: is %d bytes; give at least %d random bytes (such as the output of openssl rand -base64 48), the same on every replica", len(config.DPoPNonceSecret), minNonceSecretBytes)
	}
	lifetime := 5 * time.Minute
	if config.DPoPNonceLifetime != "" {
		var err error
		if lifetime, err = parseDuration("dpopNonceLifetime", config.DPoPNonceLifetime); err != nil {
			return nil, err
		}
		if lifetime < 10*time.Second || lifetime > time.Hour {
			return nil, fmt.Errorf("dpopNonceLifetime: %s is not between 10s and 1h; give the longest a nonce may live, such as \"5m\"", lifetime)
		}
	}
	return &nonceRule{secret: []byte(config.DPoPNonceSecret), windowNanos: int64(lifetime / 2)}, nil
}

// issue is the nonce of now's window.
func (n *nonceRule) issue(now time.Time) string {
	window := now.UnixNano() / n.windowNanos
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.issued == "" || n.issuedWindow != window {
		n.issued = base64.RawURLEncoding.EncodeToString(n.nonceOf(window))
		n.issuedWindow = window
	}
	return n.issued
}

// judge accepts a nonce of now's window (current) or of the one before; errDPoPNonceInvalid for
// any other text.
func (n *nonceRule) judge(nonce string, now time.Time) (current bool, err error) {
	data, err := jose.DecodeSegment(nonce)
	if err != nil || len(data) != nonceBytes {
		return false, errDPoPNonceInvalid
	}
	window := int64(binary.BigEndian.Uint64(data[:8]))
	nowWindow := now.UnixNano() / n.windowNanos
	if window != nowWindow && window != nowWindow-1 || !hmac.Equal(data, n.nonceOf(window)) {
		return false, errDPoPNonceInvalid
	}
	return window == nowWindow, nil
}

// nonceOf is the nonce of window: the window and an HMAC of it and of the window's length, so
// that a nonce of another lifetime, or of another secret, never passes.
func (n *nonceRule) nonceOf(window int64) []byte {
	nonce := make([]byte, 8, nonceBytes)
	binary.BigEndian.PutUint64(nonce, uint64(window))
	mac := hmac.New(sha256.New, n.secret)
	mac.Write([]byte("withauth dpop nonce "))
	mac.Write(nonce)
	var length [8]byte
	binary.BigEndian.PutUint64(length[:], uint64(n.windowNanos))
	mac.Write(length[:])
	return append(nonce, mac.Sum(nil)[:16]...)
}
