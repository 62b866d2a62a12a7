package withauth

import (
	"sync"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// knownHeaders are the process's token headers that verified, by their text: an issuer signs
// every token of a key under one header, which is then read once, not once per token. Only a
// header whose token's signature verified enters, so no client can fill it; when full, an
// eighth of it, in Go's random map order, makes room.
type knownHeaders struct {
	mu     sync.Mutex
	byText map[string]*jose.Header
}

// rememberHeader keeps the header of a token whose signature verified.
func rememberHeader(headers *knownHeaders, text string, header *jose.Header) {
	if len(text) > maxKnownHeaderBytes {
		return
	}
	headers.mu.Lock()
	if len(headers.byText) >= maxKnownHeaders {
		room := maxKnownHeaders / 8
		for known := range headers.byText {
			delete(headers.byText, known)
			if room--; room == 0 {
				break
			}
		}
	}
	headers.byText[text] = header
	headers.mu.Unlock()
}

// maxKnownHeaders and maxKnownHeaderBytes bound knownHeaders to 256 KB of text.
const (
	maxKnownHeaders     = 256
	maxKnownHeaderBytes = 1024
)
