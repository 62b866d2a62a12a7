package main

// What the checker reads from the files it is given, whatever their kind: the middlewares and
// routers of Traefik's dynamic configuration (by provider), Kubernetes Secrets, and the plugins
// Traefik's static configuration declares.

import (
	"sort"
	"strings"
)

// position is where something is written: a file and a line (0: the file as a whole).
type position struct {
	file string
	line int
}

// middleware is one middleware of the dynamic configuration.
type middleware struct {
	name     string // qualified as routers name it: name@provider
	at       position
	plugin   string                 // the plugin's name under plugin:, "" for Traefik's own types
	settings map[string]interface{} // the plugin's settings as Traefik hands them over
	chain    []string               // a chain's middlewares, qualified
	// keyLine is the line of a setting, "" for the middleware's own.
	keyLine func(key string) int
	// namespace is a Kubernetes Middleware's, for urn:k8s:secret: values.
	namespace string
	// dropped are the settings written without a value (YAML null) that Traefik's file provider
	// drops before the plugin sees them, with their lines.
	dropped map[string]int
}

// router is one router of the dynamic configuration.
type router struct {
	name        string // qualified
	at          position
	rule        string
	service     string // qualified
	middlewares []string
}

// model is everything read.
type model struct {
	middlewares map[string]*middleware
	routers     []*router
	// secrets are Kubernetes Secrets: "<namespace>/<name>" to their keys' values.
	secrets map[string]map[string]string
	// plugins are the plugins Traefik's static configuration declares, by name, to their
	// module; staticAt is where a static configuration was read (nil: none was given).
	plugins              map[string]string
	staticAt             *position
	abortOnPluginFailure bool
	// providers are the providers whose configuration was given: a middleware of another is
	// not looked for.
	providers map[string]bool
	// findings of reading itself (a file Traefik would refuse, an unset variable).
	findings []finding
}

func newModel() *model {
	return &model{middlewares: map[string]*middleware{}, secrets: map[string]map[string]string{}, plugins: map[string]string{}, providers: map[string]bool{}}
}

// qualify is a reference from provider's configuration as Traefik resolves it: a name without
// @ is the provider's own.
func qualify(name, provider string) string {
	name = strings.TrimSpace(name)
	if strings.Contains(name, "@") {
		return name
	}
	return name + "@" + provider
}

// providerOf is a qualified name's provider.
func providerOf(qualified string) string {
	return qualified[strings.LastIndexByte(qualified, '@')+1:]
}

// addDynamic adds a provider's dynamic configuration read from file.
func (m *model) addDynamic(config *dynamicConfig, provider string, file string, lines func(kind, name, key string) int) {
	m.providers[provider] = true
	if config == nil || config.HTTP == nil {
		return
	}
	for _, name := range sortedNames(config.HTTP.Middlewares) {
		mw := config.HTTP.Middlewares[name]
		if mw == nil {
			continue
		}
		name := name
		entry := &middleware{name: qualify(name, provider), at: position{file, lines("middlewares", name, "")},
			keyLine: func(key string) int { return lines("middlewares", name, key) }}
		for plugin, settings := range mw.Plugin {
			entry.plugin, entry.settings = plugin, settings
		}
		if mw.Chain != nil {
			for _, ref := range mw.Chain.Middlewares {
				entry.chain = append(entry.chain, qualify(ref, provider))
			}
		}
		m.middlewares[entry.name] = entry
	}
	for _, name := range sortedNames(config.HTTP.Routers) {
		r := config.HTTP.Routers[name]
		if r == nil {
			continue
		}
		entry := &router{name: qualify(name, provider), at: position{file, lines("routers", name, "")}, rule: r.Rule, service: qualify(r.Service, provider)}
		for _, ref := range r.Middlewares {
			entry.middlewares = append(entry.middlewares, qualify(ref, provider))
		}
		m.routers = append(m.routers, entry)
	}
}

func sortedNames[T any](items map[string]T) []string {
	names := make([]string, 0, len(items))
	for name := range items {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
