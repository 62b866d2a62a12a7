package withauth

// Key discovery from an issuer alone (OpenID Connect Discovery 1.0, RFC 8414): the issuer's
// metadata names its jwks_uri.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// discoveryEndpoint fetches an issuer's keys from the jwks_uri of its discovery document, or
// from <issuer>/.well-known/jwks.json when it publishes none (Frontegg, Auth0 and others serve
// both). The document is fetched with the keys, so it is shared, refreshed and bounded as they are.
type discoveryEndpoint struct {
	issuer string
	client *http.Client
}

func (d discoveryEndpoint) describe() string { return redactURL(d.issuer) + " (discovery)" }

func (d discoveryEndpoint) fetch(ctx context.Context) (*jose.KeySet, error) {
	jwksURL, err := d.jwksURI(ctx)
	if err != nil {
		return nil, err
	}
	body, _, err := fetchBounded(ctx, d.client, http.MethodGet, jwksURL, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", redactURL(jwksURL), err)
	}
	set, err := jose.ParseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", redactURL(jwksURL), err)
	}
	return set, nil
}

// jwksURI reads the issuer's metadata: OpenID Connect's document, else RFC 8414's; when the
// issuer has neither (404), the conventional <issuer>/.well-known/jwks.json.
func (d discoveryEndpoint) jwksURI(ctx context.Context) (string, error) {
	base := strings.TrimRight(d.issuer, "/")
	for _, document := range []string{base + "/.well-known/openid-configuration", oauthMetadataURL(d.issuer)} {
		body, status, err := fetchBounded(ctx, d.client, http.MethodGet, document, nil, nil)
		if status == http.StatusNotFound {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("GET %s: %v", redactURL(document), err)
		}
		var metadata struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(body, &metadata); err != nil {
			return "", fmt.Errorf("GET %s: not a discovery document: %v", redactURL(document), err)
		}
		// OpenID Connect Discovery §4.3: a document for another issuer must not be used.
		if metadata.Issuer != d.issuer {
			return "", fmt.Errorf("GET %s: %w: the document's issuer is %q, the configured issuer %q; set issuer exactly as the document and the tokens spell it", redactURL(document), errIssuerMismatch, redactURL(metadata.Issuer), redactURL(d.issuer))
		}
		if err := checkEndpointURL(metadata.JWKSURI, exampleJWKSURL); err != nil {
			return "", fmt.Errorf("GET %s: jwks_uri: %v", redactURL(document), err)
		}
		return metadata.JWKSURI, nil
	}
	return base + "/.well-known/jwks.json", nil
}

// oauthMetadataURL is RFC 8414's metadata URL: the well-known segment goes between the host
// and the issuer's path.
func oauthMetadataURL(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return strings.TrimRight(issuer, "/") + "/.well-known/oauth-authorization-server"
	}
	path := strings.TrimRight(u.Path, "/")
	u.Path = "/.well-known/oauth-authorization-server" + path
	return u.String()
}
