package main

// What the checker finds: each withauth middleware judged by the plugin's own validation
// (withauth.Check), the routers Traefik would drop, and what would then serve their paths.

import (
	"fmt"
	"sort"
	"strings"

	"github.com/seed0ec25cca/withauth"
)

type severity string

const (
	errorSeverity   severity = "error"
	warningSeverity severity = "warning"
	noteSeverity    severity = "note"
)

// finding is one line of the checker's report: file:line: subject: message.
type finding struct {
	at       position
	severity severity
	subject  string // the middleware or router, qualified
	key      string // the setting, when the finding is about one
	message  string
}

// withauthModule is the plugin's module, as Traefik's static configuration declares it.
const withauthModule = "github.com/seed0ec25cca/withauth"

// check judges the model; name is the plugin's name assumed when no static configuration
// declares it.
func check(m *model, name string) []finding {
	findings := append([]finding{}, m.findings...)
	protected, unknownPlugin := map[string]bool{}, map[string]bool{}
	for _, qualified := range sortedNames(m.middlewares) {
		mw := m.middlewares[qualified]
		if mw.plugin == "" {
			continue
		}
		if isWithauth(m, mw.plugin, name) {
			protected[qualified] = true
			findings = append(findings, checkMiddleware(m, mw)...)
			continue
		}
		if f, ok := undeclaredPlugin(m, mw, name); ok {
			findings = append(findings, f)
			unknownPlugin[qualified] = true
		}
	}
	dropped := map[*router]string{}
	for _, r := range m.routers {
		for _, ref := range r.middlewares {
			if why := missingMiddleware(m, ref, unknownPlugin, map[string]bool{}); why != "" {
				dropped[r] = why
				findings = append(findings, finding{at: r.at, severity: errorSeverity, subject: r.name,
					message: why + ": Traefik drops this router, and another router matching its paths serves them without it; define the middleware or fix the name"})
				break
			}
		}
	}
	findings = append(findings, catchAlls(m, protected, dropped)...)
	if m.staticAt != nil && !m.abortOnPluginFailure && len(protected) > 0 {
		findings = append(findings, finding{at: *m.staticAt, severity: noteSeverity, subject: "static configuration",
			message: "experimental.abortOnPluginFailure is not true: if withauth fails to load, Traefik starts without it and drops every router that uses it; set it to true so that Traefik refuses to start instead"})
	}
	sort.SliceStable(findings, func(i, j int) bool {
		if findings[i].at.file != findings[j].at.file {
			return findings[i].at.file < findings[j].at.file
		}
		return findings[i].at.line < findings[j].at.line
	})
	return findings
}

// isWithauth reports whether a middleware's plugin name is withauth's: declared with withauth's
// module, or, without a static configuration, the name given to the checker.
func isWithauth(m *model, plugin, name string) bool {
	if m.staticAt == nil {
		return plugin == name
	}
	return m.plugins[plugin] == withauthModule || (m.plugins[plugin] != "" && strings.HasSuffix(m.plugins[plugin], "/withauth"))
}

// undeclaredPlugin finds a middleware naming a plugin Traefik does not know: every router using it
// is dropped.
func undeclaredPlugin(m *model, mw *middleware, name string) (finding, bool) {
	if m.staticAt != nil {
		if _, declared := m.plugins[mw.plugin]; declared {
			return finding{}, false
		}
		return finding{at: mw.at, severity: errorSeverity, subject: mw.name, message: fmt.Sprintf(
			"plugin %q is not declared in Traefik's static configuration (experimental.plugins or experimental.localPlugins; names are case-sensitive): Traefik drops every router that uses this middleware; use the declared name", mw.plugin)}, true
	}
	if strings.EqualFold(mw.plugin, name) {
		return finding{at: mw.at, severity: errorSeverity, subject: mw.name, message: fmt.Sprintf(
			"plugin %q is not %q: Traefik's plugin names are case-sensitive, so it drops every router that uses this middleware; write %s", mw.plugin, name, name)}, true
	}
	return finding{}, false
}

// checkMiddleware runs the plugin's own validation on a withauth middleware: the error New would
// log, and the notes on its secrets. A urn:k8s:secret: value of a Secret given to the checker
// is resolved as Traefik resolves it, when the validation needs its value.
func checkMiddleware(m *model, mw *middleware) []finding {
	settings := make(map[string]interface{}, len(mw.settings))
	for key, value := range mw.settings {
		settings[key] = value
	}
	var findings []finding
	for _, key := range sortedNames(mw.dropped) {
		findings = append(findings, finding{at: position{mw.at.file, mw.dropped[key]}, severity: errorSeverity, subject: mw.name, key: key,
			message: key + ": is written without a value (null), which Traefik's file provider drops before withauth sees it, so the route runs as if it were not set (roles: no role required); give a value, or remove the key"})
	}
	notes, err := withauth.Check(&withauth.Config{Given: settings}, mw.name)
	for tries := 0; err != nil && tries < len(settings); tries++ {
		key := keyOf(err.Error())
		value, isURN := settings[key].(string)
		if !isURN || !strings.HasPrefix(value, "urn:k8s:secret:") {
			break
		}
		resolved, ok := resolveSecret(m, mw.namespace, value)
		if !ok {
			findings = append(findings, finding{at: position{mw.at.file, mw.keyLine(key)}, severity: warningSeverity, subject: mw.name, key: key,
				message: key + ": " + value + " names a Secret not among the files given: this middleware is not checked past it; give the Secret's manifest too"})
			return findings
		}
		settings[key] = resolved
		notes, err = withauth.Check(&withauth.Config{Given: settings}, mw.name)
	}
	if err != nil {
		key := keyOf(err.Error())
		findings = append(findings, finding{at: position{mw.at.file, lineOfKey(mw, key)}, severity: errorSeverity, subject: mw.name, key: key,
			message: err.Error() + " (the route answers 500 until it is fixed)"})
	}
	for _, note := range notes {
		key := keyOf(note)
		findings = append(findings, finding{at: position{mw.at.file, lineOfKey(mw, key)}, severity: warningSeverity, subject: mw.name, key: key, message: note})
	}
	return findings
}

// keyOf is the setting a message of the plugin starts with ("roles: …", "forwardHeaders.X: …",
// "clientCertificate and clientKey: …"): its first key.
func keyOf(message string) string {
	if rest, unknown := strings.CutPrefix(message, `unknown key "`); unknown {
		key, _, _ := strings.Cut(rest, `"`)
		return key
	}
	head, _, found := strings.Cut(message, ": ")
	if !found || strings.ContainsAny(head, `"(`) {
		return ""
	}
	head, _, _ = strings.Cut(head, " ")
	head, _, _ = strings.Cut(head, ",")
	head, _, _ = strings.Cut(head, "[")
	head, _, _ = strings.Cut(head, ".")
	return head
}

func lineOfKey(mw *middleware, key string) int {
	if key == "" {
		return mw.at.line
	}
	for given := range mw.settings {
		if strings.EqualFold(given, key) {
			return mw.keyLine(given)
		}
	}
	return mw.at.line
}

// resolveSecret reads urn:k8s:secret:<name>:<key> in namespace, as Traefik's CRD provider does.
func resolveSecret(m *model, namespace, urn string) (string, bool) {
	parts := strings.Split(strings.TrimPrefix(urn, "urn:k8s:secret:"), ":")
	if len(parts) != 2 {
		return "", false
	}
	value, ok := m.secrets[namespace+"/"+parts[0]][parts[1]]
	return value, ok
}

// missingMiddleware says why a middleware reference (and the chains it names) cannot be
// resolved: a middleware that does not exist, or names a plugin Traefik does not know; "" when
// it can, or when its provider's configuration was not given.
func missingMiddleware(m *model, ref string, unknownPlugin, seen map[string]bool) string {
	if seen[ref] {
		return ""
	}
	seen[ref] = true
	mw := m.middlewares[ref]
	switch {
	case mw == nil && !m.providers[providerOf(ref)]:
		return ""
	case mw == nil:
		return fmt.Sprintf("the middleware %q does not exist", ref)
	case unknownPlugin[ref]:
		return fmt.Sprintf("the middleware %q names a plugin Traefik does not know (%q)", ref, mw.plugin)
	}
	for _, inner := range mw.chain {
		if why := missingMiddleware(m, inner, unknownPlugin, seen); why != "" {
			return why
		}
	}
	return ""
}

// catchAlls warns of routers that match every path and reach a protected router's service
// without withauth: if Traefik drops the protected router (a plugin that fails to load, a
// middleware it cannot find), they serve its paths unauthenticated, and the backend trusts
// identity headers the client wrote.
func catchAlls(m *model, protected map[string]bool, dropped map[*router]string) []finding {
	var findings []finding
	for _, c := range m.routers {
		if !catchAll(c.rule) || usesWithauth(m, c, protected) {
			continue
		}
		var guarded []string
		for _, r := range m.routers {
			if r != c && r.service == c.service && (usesWithauth(m, r, protected) || dropped[r] != "") {
				guarded = append(guarded, r.name)
			}
		}
		if len(guarded) == 0 {
			continue
		}
		findings = append(findings, finding{at: c.at, severity: warningSeverity, subject: c.name, message: fmt.Sprintf(
			"matches every path and reaches %s without withauth: when Traefik drops %s (a plugin that fails to load, a middleware it cannot find), this router serves its paths unauthenticated and the backend trusts identity headers the client wrote; give it withauth too or another service, and set experimental.abortOnPluginFailure: true",
			c.service, strings.Join(guarded, ", "))})
	}
	return findings
}

func usesWithauth(m *model, r *router, protected map[string]bool) bool {
	for _, ref := range r.middlewares {
		if chainHas(m, ref, protected, map[string]bool{}) {
			return true
		}
	}
	return false
}

func chainHas(m *model, ref string, protected map[string]bool, seen map[string]bool) bool {
	if protected[ref] {
		return true
	}
	if seen[ref] || m.middlewares[ref] == nil {
		return false
	}
	seen[ref] = true
	for _, inner := range m.middlewares[ref].chain {
		if chainHas(m, inner, protected, seen) {
			return true
		}
	}
	return false
}

// catchAll reports whether a rule matches every path of every host.
func catchAll(rule string) bool {
	compact := strings.NewReplacer(" ", "", "\t", "", "\n", "", `"`, "`").Replace(rule)
	switch compact {
	case "PathPrefix(`/`)", "HostRegexp(`.*`)", "HostRegexp(`.+`)", "HostRegexp(`^.*$`)", "HostRegexp(`^.+$`)", "HostRegexp(`{host:.+}`)", "HostRegexp(`{any:.*}`)":
		return true
	}
	return false
}
