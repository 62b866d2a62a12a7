package withauth

// Frontegg access tokens (x-api-key): Frontegg's answers about them, cached as the SDKs cache them.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// activeAccessTokens lists the IDs of the active access tokens of a kind.
func (f *fronteggAPI) activeAccessTokens(kind string) (*apiAnswer, error) {
	return f.answers.get("active "+kind, f.client.Timeout, func(ctx context.Context, a *apiAnswer) error {
		body, status, err := f.get(ctx, "/identity/resources/vendor-only/"+kind+"/access-tokens/v1/active")
		if status == http.StatusForbidden {
			f.noteAccessDisabled(a, body)
			return nil
		}
		if err != nil {
			return err
		}
		var ids []string
		if err := json.Unmarshal(body, &ids); err != nil {
			return fmt.Errorf("invalid active access tokens answer: %v", err)
		}
		a.active = toSet(ids)
		return nil
	})
}

// noteAccessDisabled records Frontegg's 403 on its access-token endpoints, its answer when the
// vendor turned access tokens off: the SDKs take it as "not authenticated", so it is a 401
// cached like any answer, not a 503 that clients would retry forever.
func (f *fronteggAPI) noteAccessDisabled(a *apiAnswer, body []byte) {
	f.log.errorf("%s: Frontegg refused the access token check (403 %.200s); access tokens are refused while it does", f.users.String(), body)
	a.disabled = true
}

// accessTokenGrants fetches the roles and permissions Frontegg holds for an access token;
// the answer's grants stay nil for a token Frontegg no longer knows.
func (f *fronteggAPI) accessTokenGrants(kind, id string) (*apiAnswer, error) {
	return f.answers.get(kind+" "+id, f.client.Timeout, func(ctx context.Context, a *apiAnswer) error {
		body, status, err := f.get(ctx, "/identity/resources/vendor-only/"+kind+"/access-tokens/v1/"+url.PathEscape(id))
		if status == http.StatusNotFound {
			return nil
		}
		if status == http.StatusForbidden {
			f.noteAccessDisabled(a, body)
			return nil
		}
		if err != nil {
			return err
		}
		var data accessTokenData
		if err := json.Unmarshal(body, &data); err != nil {
			return fmt.Errorf("invalid access token answer: %v", err)
		}
		a.grants = &data
		return nil
	})
}

// checkAccessToken does what the SDKs do after verifying an access token: with no roles or
// permissions required, the token must be listed as active; otherwise Frontegg's roles and
// permissions for it are what the requirements are checked against. It returns when the
// answer stops being trusted, and the grants (nil when they were not fetched).
func (f *fronteggAPI) checkAccessToken(claims map[string]interface{}, needsGrants bool) (time.Time, *accessTokenData, error) {
	tokenType, _ := claims["type"].(string)
	sub, _ := claims["sub"].(string)
	kind := accessTokenKind(tokenType)
	if !needsGrants {
		a, err := f.activeAccessTokens(kind)
		if err != nil {
			return time.Time{}, nil, errCheckUnavailable
		}
		if a.disabled {
			return a.expires, nil, errAccessDisabled
		}
		if !a.active[sub] {
			return a.expires, nil, errAccessRevoked
		}
		return a.expires, nil, nil
	}
	a, err := f.accessTokenGrants(kind, sub)
	if err != nil {
		return time.Time{}, nil, errCheckUnavailable
	}
	if a.disabled {
		return a.expires, nil, errAccessDisabled
	}
	if a.grants == nil {
		return a.expires, nil, errAccessRevoked
	}
	return a.expires, a.grants, nil
}

// withGrants is a copy of an access token's claims whose roles and permissions are Frontegg's
// grants for it, or, when they were not fetched, absent: the token's own are Frontegg's
// placeholders (FETCH-ROLES-BY-API), which the upstream must never read as grants. The
// verified claims stay as they were decoded.
func withGrants(claims map[string]interface{}, grants *accessTokenData) map[string]interface{} {
	view := make(map[string]interface{}, len(claims))
	for name, value := range claims {
		if name != "roles" && name != "permissions" {
			view[name] = value
		}
	}
	if grants != nil {
		view["roles"] = stringsToClaim(grants.Roles)
		view["permissions"] = stringsToClaim(grants.Permissions)
	}
	return view
}

func stringsToClaim(items []string) []interface{} {
	list := make([]interface{}, len(items))
	for i, item := range items {
		list[i] = item
	}
	return list
}
