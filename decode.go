package withauth

// The configuration as Traefik hands it over, read by withauth itself: Traefik's decoder
// (mapstructure, weakly typed) turns a key given as "" into false, 0 or an empty string, and a
// key given as null into nothing at all, so a typed field cannot tell "absent" from "emptied".
// Every key therefore reaches Config.Given as given, and decodeGiven refuses the ones without a
// value, naming them.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// errNoValue is the error of a key given without a value.
func errNoValue(key string, value interface{}) error {
	what := "is empty"
	if value == nil {
		what = "is given without a value (null)"
	}
	return fmt.Errorf("%s: %s, which would weaken the route (an empty label, an unset variable or an empty Secret value); give a value, or remove the key for its default", key, what)
}

// givenString is a scalar as text: providers hand over strings (files, labels) or JSON's
// numbers and booleans (Kubernetes).
func givenString(key string, value interface{}) (string, error) {
	switch v := value.(type) {
	case nil:
		return "", errNoValue(key, nil)
	case string:
		if strings.TrimSpace(v) == "" {
			return "", errNoValue(key, v)
		}
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case json.Number:
		return v.String(), nil
	}
	return "", fmt.Errorf("%s: is %s; give one value", key, describeGiven(value))
}

// givenJWKS is a key set given as JSON text (a label, a Secret's value) or as an object (YAML,
// a Kubernetes resource), as JSON text.
func givenJWKS(key string, value interface{}) (string, error) {
	object, isObject := givenObject(value)
	if !isObject {
		return givenString(key, value)
	}
	text, err := json.Marshal(object)
	if err != nil {
		return "", fmt.Errorf("%s: %v; give a JSON Web Key Set", key, err)
	}
	return string(text), nil
}

func givenBool(key string, value interface{}) (bool, error) {
	text, err := givenString(key, value)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is not true or false", key, text)
}

func givenInt(key string, value interface{}) (int, error) {
	text, err := givenString(key, value)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a whole number", key, text)
	}
	return n, nil
}

// givenList reads a list: a list of scalars, or one string whose items are separated by
// commas (Docker labels). [] becomes an empty list, which splitList refuses by name.
func givenList(key string, value interface{}) ([]string, error) {
	switch v := value.(type) {
	case nil:
		return nil, errNoValue(key, nil)
	case string:
		if strings.TrimSpace(v) == "" {
			return nil, errNoValue(key, v)
		}
		return []string{v}, nil
	case []string:
		return append([]string{}, v...), nil
	case []interface{}:
		items := make([]string, 0, len(v))
		for i, item := range v {
			text, err := givenString(key+"["+strconv.Itoa(i)+"]", item)
			if err != nil {
				return nil, err
			}
			items = append(items, text)
		}
		return items, nil
	}
	return givenScalarList(key, value)
}

// givenScalarList reads a single number or boolean given where a list is expected.
func givenScalarList(key string, value interface{}) ([]string, error) {
	text, err := givenString(key, value)
	if err != nil {
		return nil, fmt.Errorf("%s: is %s; give a list of names", key, describeGiven(value))
	}
	return []string{text}, nil
}

// givenHeaders reads forwardHeaders: header name to claim.
func givenHeaders(key string, value interface{}) (map[string]string, error) {
	object, ok := givenObject(value)
	if !ok {
		if text, isString := value.(string); value == nil || isString && strings.TrimSpace(text) == "" {
			return nil, errNoValue(key, value)
		}
		return nil, fmt.Errorf("%s: is %s; give header names with the claim each carries, such as X-User-Id: sub", key, describeGiven(value))
	}
	if len(object) == 0 {
		return nil, fmt.Errorf("%s: is set but empty; give header names with their claims, or remove the key for the default headers", key)
	}
	headers := make(map[string]string, len(object))
	for _, name := range sortedKeys(object) {
		claim, err := givenString(key+"."+name, object[name])
		if err != nil {
			return nil, err
		}
		headers[name] = claim
	}
	return headers, nil
}

// issuerKeys are IssuerConfig's keys, as the README spells them.
var issuerKeys = []string{"issuer", "jwksUrl", "audience"}

// givenIssuers reads issuers: a list of entries with issuer, jwksUrl and audience.
func givenIssuers(key string, value interface{}) ([]IssuerConfig, error) {
	list, ok := value.([]interface{})
	if !ok {
		if text, isString := value.(string); value == nil || isString && strings.TrimSpace(text) == "" {
			return nil, errNoValue(key, value)
		}
		return nil, fmt.Errorf("%s: is %s; give a list of entries, each with issuer (and jwksUrl or audience)", key, describeGiven(value))
	}
	entries := make([]IssuerConfig, 0, len(list))
	for i, item := range list {
		prefix := key + "[" + strconv.Itoa(i) + "]"
		object, ok := givenObject(item)
		if !ok {
			return nil, fmt.Errorf("%s: is %s; give an entry with issuer (and jwksUrl or audience)", prefix, describeGiven(item))
		}
		entry, err := givenIssuer(prefix, object)
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry)
	}
	return entries, nil
}

func givenIssuer(prefix string, object map[string]interface{}) (IssuerConfig, error) {
	var entry IssuerConfig
	var unknown map[string]interface{}
	seen := map[string]string{}
	for _, key := range sortedKeys(object) {
		name := strings.ToLower(key)
		if other, twice := seen[name]; twice {
			return entry, fmt.Errorf("%s.%s: is given twice (also as %q); keep one", prefix, key, other)
		}
		seen[name] = key
		var err error
		switch name {
		case "issuer":
			entry.Issuer, err = givenString(prefix+"."+key, object[key])
		case "jwksurl":
			entry.JWKSURL, err = givenString(prefix+"."+key, object[key])
		case "audience":
			entry.Audience, err = givenList(prefix+"."+key, object[key])
		default:
			if unknown == nil {
				unknown = map[string]interface{}{}
			}
			unknown[key] = object[key]
		}
		if err != nil {
			return entry, err
		}
	}
	return entry, checkUnknownKeysOf(prefix+".", issuerKeys, unknown)
}

// givenObject reads a JSON object, as map[string]interface{} or map[string]string.
func givenObject(value interface{}) (map[string]interface{}, bool) {
	switch v := value.(type) {
	case map[string]interface{}:
		return v, true
	case map[string]string:
		object := make(map[string]interface{}, len(v))
		for name, text := range v {
			object[name] = text
		}
		return object, true
	}
	return nil, false
}

// describeGiven names the shape of a value for an error message, never its content: it may be
// a secret.
func describeGiven(value interface{}) string {
	switch value.(type) {
	case []interface{}, []string:
		return "a list"
	case map[string]interface{}, map[string]string:
		return "an object"
	}
	return "a single value"
}

func sortedKeys(object map[string]interface{}) []string {
	keys := make([]string, 0, len(object))
	for key := range object {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}
