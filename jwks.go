package withauth

// A JSON Web Key Set endpoint (RFC 7517), as a key source fetches it; the token core
// (internal/jose) reads the set.

import (
	"context"
	"net/http"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// jwksEndpoint fetches a JSON Web Key Set (RFC 7517) over HTTP.
type jwksEndpoint struct {
	url    string
	client *http.Client
}

func (e jwksEndpoint) describe() string { return redactURL(e.url) }

func (e jwksEndpoint) fetch(ctx context.Context) (*jose.KeySet, error) {
	body, _, err := fetchBounded(ctx, e.client, http.MethodGet, e.url, nil, nil)
	if err != nil {
		return nil, err
	}
	return jose.ParseJWKS(body)
}
