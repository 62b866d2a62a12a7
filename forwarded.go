package withauth

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// What the upstream receives: the forwarded headers' values, rendered from verified claims so
// that each reads as exactly what withauth judged.

// headerValue renders a claim for a request header: lists joined with ",", numbers with their
// exact digits, objects as JSON; with asList (the roles and permissions claims), a string is
// its space-separated names and an object its keys, as meets reads them. The upstream must
// never read a value withauth did not judge, so a string it would read otherwise (control
// characters, which a proxy may drop, or surrounding white space, which HTTP trims) is not
// forwarded, and neither is a list item holding a comma, which would read as two items.
// A string and an array of strings, the shapes of nearly every claim, take no further call
// but joinItems.
func headerValue(value interface{}, asList bool) string {
	if text, isString := value.(string); isString && !asList {
		if !plainHeaderText(text) {
			return ""
		}
		return text
	}
	if items, isList := value.([]interface{}); isList {
		return joinItems(items, asList)
	}
	return otherHeaderValue(value, asList)
}

// joinItems renders a JSON array: its strings that read as themselves in a comma-separated
// value, joined with ","; an array holding anything but strings is left to joinAnyItems.
func joinItems(items []interface{}, asList bool) string {
	if len(items) >= wholeListChecked {
		return joinLongItems(items, asList)
	}
	names := make([]string, 0, len(items))
	for _, item := range items {
		name, isString := item.(string)
		if !isString {
			return joinAnyItems(items, asList)
		}
		if name != "" && strings.TrimSpace(name) == name && !strings.ContainsAny(name, listBreakers) { // listItemText, inlined
			names = append(names, name)
		}
	}
	return strings.Join(names, ",")
}

// joinLongItems is joinItems for a long list, which joinNames checks whole.
func joinLongItems(items []interface{}, asList bool) string {
	names := make([]string, len(items))
	for i, item := range items {
		name, isString := item.(string)
		if !isString {
			return joinAnyItems(items, asList)
		}
		names[i] = name
	}
	return joinNames(names)
}

// joinAnyItems renders an array of any JSON values. With asList (a list meets judges) only its
// strings are names, as meets reads them; otherwise a scalar item is rendered as headerValue
// renders it, and a nested array or object as JSON, so that [["admin"]] never reads as admin.
// An item whose rendering holds a comma would read as two, and is left out.
func joinAnyItems(items []interface{}, asList bool) string {
	parts := make([]string, 0, len(items))
	for _, item := range items {
		text := ""
		switch item.(type) {
		case string:
			text = headerValue(item, false)
		case []interface{}, map[string]interface{}:
			if !asList {
				text = otherHeaderValue(item, false)
			}
		default:
			if !asList {
				text = headerValue(item, false)
			}
		}
		if text != "" && strings.IndexByte(text, ',') < 0 {
			parts = append(parts, text)
		}
	}
	return strings.Join(parts, ",")
}

// otherHeaderValue is headerValue for the rarer shapes: a string read as a list, an object,
// a number, a boolean, null.
func otherHeaderValue(value interface{}, asList bool) string {
	switch v := value.(type) {
	case string:
		return joinNames(strings.Split(v, " "))
	case map[string]interface{}:
		if asList {
			names := make([]string, 0, len(v))
			for name := range v {
				names = append(names, name)
			}
			sort.Strings(names)
			return joinNames(names)
		}
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	// JSON escapes every control character.
	encoded, err := json.Marshal(value)
	if err != nil {
		return ""
	}
	return string(encoded)
}

// joinNames joins the names that read as themselves in a comma-separated header value. A long
// list (Frontegg's permissions) is first checked whole, with a few compiled calls instead of
// two a name; only if that check fails is each name checked.
func joinNames(names []string) string {
	if len(names) >= wholeListChecked {
		if joined := strings.Join(names, ","); readsAsNames(joined, len(names)) {
			return joined
		}
	}
	kept := make([]string, 0, len(names))
	for _, name := range names {
		if listItemText(name) {
			kept = append(kept, name)
		}
	}
	return strings.Join(kept, ",")
}

// wholeListChecked is the length from which a list is checked whole: under Yaegi the whole
// check costs about as much as checking 5 names one by one (6.4 µs against 3.4 µs for 2 names,
// 10.8 µs against 27.8 µs for 30).
const wholeListChecked = 6

// readsAsNames reports whether joined, n names joined with ",", holds n names that each pass
// listItemText: no name is empty (no leading, trailing or doubled comma), holds a comma (n-1 of
// them in all), a control character, or space at either end (none at the ends of joined or
// beside a comma; no multi-byte character, so no other Unicode white space). A name that is
// fine but not ASCII makes it false, and the names are then checked one by one.
func readsAsNames(joined string, n int) bool {
	last := len(joined) - 1
	return last >= 0 && joined[0] != ',' && joined[last] != ',' && joined[0] != ' ' && joined[last] != ' ' &&
		strings.Count(joined, ",") == n-1 && !strings.ContainsAny(joined, controlCharacters) &&
		utf8.RuneCountInString(joined) == len(joined) &&
		!strings.Contains(joined, ",,") && !strings.Contains(joined, " ,") && !strings.Contains(joined, ", ")
}

// plainHeaderText reports whether s reaches the upstream as it is.
func plainHeaderText(s string) bool {
	return strings.TrimSpace(s) == s && !strings.ContainsAny(s, controlCharacters)
}

// listItemText reports whether s reads as itself as an item of a comma-separated value.
func listItemText(s string) bool {
	return s != "" && strings.TrimSpace(s) == s && !strings.ContainsAny(s, listBreakers)
}

// controlCharacters are what a string reaching the upstream must not hold (a proxy may drop
// them); neither may it have white space at either end (HTTP trims SP and HTAB, many
// frameworks more). listBreakers adds the comma, which would split a list item in two.
const controlCharacters = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f" +
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"
const listBreakers = controlCharacters + ","

// encodeClaims renders all verified claims as base64url JSON, for backends that rebuild the
// user object of Frontegg's SDKs from one header.
func encodeClaims(claims map[string]interface{}) string {
	encoded, err := json.Marshal(claims)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(encoded)
}

// forwardedHeaders are the names of the forwarded headers that have a value (names itself when
// all have) and the values as a request's header gets them: each a slice of values of capacity
// one, so that the grant's strings take one array.
func forwardedHeaders(names, values []string) ([]string, [][]string) {
	all := true
	for _, value := range values {
		if value == "" {
			all = false
		}
	}
	present := names
	if !all {
		present = nil
	}
	views := make([][]string, 0, len(values))
	for i, value := range values {
		if value == "" {
			continue
		}
		if !all {
			present = append(present, names[i])
		}
		views = append(views, values[i:i+1:i+1])
	}
	return present, views
}

// forwardedValues are the values of the forwarded headers, in forward's order: "" for a claim
// that is absent or renders as "", which sets no header. One loop, since under Yaegi a call
// costs more than the statements it saves.
func forwardedValues(r *tokenRules, claims map[string]interface{}) []string {
	forward := r.forward
	values := make([]string, len(forward))
	for i := range forward {
		h := &forward[i]
		claim, found := claims[h.claim.name] // lookupClaim, its top-level read inlined
		if !found {
			claim, found = nestedClaim(h.claim, claims)
		}
		if h.isUserID {
			claim, found = r.userID(claims)
		}
		// The two shapes of nearly every claim are rendered here, the rest by headerValue. When
		// !found, claim (and text and items) may hold the previous iteration's value under Yaegi.
		text, isString := claim.(string)
		items, isList := claim.([]interface{})
		value := ""
		switch {
		case h.allClaims:
			value = encodeClaims(claimsWithUserID(claims, r.userID))
		case !found:
		case isString && !h.asList:
			if strings.TrimSpace(text) == text && !strings.ContainsAny(text, controlCharacters) { // plainHeaderText, inlined
				value = text
			}
		case isList:
			value = joinItems(items, h.asList)
		default:
			value = headerValue(claim, h.asList)
		}
		values[i] = value
	}
	return values
}

// claimsWithUserID is the claims header's object: a copy of the claims with "id" the user id
// (userID), or without "id" when there is none; the verified claims stay as decoded.
func claimsWithUserID(claims map[string]interface{}, userID func(map[string]interface{}) (interface{}, bool)) map[string]interface{} {
	view := make(map[string]interface{}, len(claims)+1)
	for name, value := range claims {
		view[name] = value
	}
	delete(view, "id")
	if id, ok := userID(claims); ok {
		view["id"] = id
	}
	return view
}
