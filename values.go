package withauth

// Reading the values settings hold: lists, durations, URLs.

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// splitList trims list items and splits those that arrive as one comma-separated string, as
// lists do from Docker labels. A list given but empty is an error: Traefik decodes "" (an
// empty label, an unset ${VARIABLE}, an empty Secret value) as an empty list, and taking that
// as "nothing required" would open the route. An empty item is an error for the same reason.
func splitList(key string, values []string) ([]string, error) {
	if values != nil && len(values) == 0 {
		return nil, fmt.Errorf("%s: is set but empty (an empty label, an unset variable or an empty Secret value); give the names, or remove the key to require nothing", key)
	}
	var items []string
	for _, value := range values {
		if text := strings.TrimSpace(value); strings.HasPrefix(text, "[") && strings.HasSuffix(text, "]") {
			return nil, errFlowList(key, value)
		}
		for _, item := range strings.Split(value, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				return nil, fmt.Errorf("%s: %q has an empty item; remove the stray comma or give the names", key, strings.Join(values, ","))
			}
			if strings.HasPrefix(item, "[") {
				return nil, errFlowList(key, value)
			}
			items = append(items, item)
		}
	}
	return items, nil
}

// errFlowList refuses a list written as YAML's flow syntax inside one string ("[admin, ops]":
// quoted, or from Helm's --set, a label or a variable), which would read as the names "[admin"
// and "ops]".
func errFlowList(key, value string) error {
	return fmt.Errorf("%s: %q is a list written inside one string; give a YAML list (%s: [a, b], unquoted), or the names comma-separated without brackets (a, b)", key, value, key)
}

func toSet(items []string) map[string]bool {
	if len(items) == 0 {
		return nil
	}
	set := make(map[string]bool, len(items))
	for _, item := range items {
		set[item] = true
	}
	return set
}

// checkEndpointURL checks an absolute http(s) URL; example is one of the kind expected.
func checkEndpointURL(raw, example string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL; give an absolute URL such as %s", redactURL(raw), example)
	}
	return nil
}

// Examples of the URLs checkEndpointURL checks.
const (
	exampleJWKSURL          = "https://app.example.com/.well-known/jwks.json"
	exampleIssuer           = "https://app.example.com"
	exampleIntrospectionURL = "https://idp.example.com/oauth2/introspect"
)

// parseMaxTokenAge reads maxTokenAge: 0 when unset.
func parseMaxTokenAge(value string) (time.Duration, error) {
	if value == "" {
		return 0, nil
	}
	d, err := parseDuration("maxTokenAge", value)
	if err != nil {
		return 0, err
	}
	if d < time.Second {
		return 0, fmt.Errorf("maxTokenAge: %s is below 1s; give the longest lifetime (exp - iat) a token may have, such as \"24h\"", d)
	}
	return d, nil
}

func parseDuration(key, value string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(value))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %q is not a duration; use a non-negative Go duration such as \"30s\" or \"10m\"", key, value)
	}
	return d, nil
}
