package main

// Traefik's dynamic configuration as far as the checker reads it, decoded by Traefik's own
// decoders (github.com/traefik/paerser at the version Traefik v3.6.12 requires): files as the file
// provider decodes them, Docker labels as the Docker provider does. The types mirror Traefik's
// pkg/config/dynamic field for field where the checker reads them; the other middleware types
// and the services are kept as raw maps, so that any valid file decodes.

import (
	"bytes"
	"os"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/traefik/paerser/file"
	"github.com/traefik/paerser/parser"
)

// dynamicConfig is Traefik's dynamic.Configuration, its HTTP part.
type dynamicConfig struct {
	HTTP *httpConfig            `json:"http,omitempty" toml:"http,omitempty" yaml:"http,omitempty"`
	TCP  map[string]interface{} `json:"tcp,omitempty" toml:"tcp,omitempty" yaml:"tcp,omitempty"`
	UDP  map[string]interface{} `json:"udp,omitempty" toml:"udp,omitempty" yaml:"udp,omitempty"`
	TLS  map[string]interface{} `json:"tls,omitempty" toml:"tls,omitempty" yaml:"tls,omitempty"`
}

type httpConfig struct {
	Routers           map[string]*httpRouter            `json:"routers,omitempty" toml:"routers,omitempty" yaml:"routers,omitempty"`
	Middlewares       map[string]*httpMiddleware        `json:"middlewares,omitempty" toml:"middlewares,omitempty" yaml:"middlewares,omitempty"`
	Services          map[string]map[string]interface{} `json:"services,omitempty" toml:"services,omitempty" yaml:"services,omitempty"`
	Models            map[string]map[string]interface{} `json:"models,omitempty" toml:"models,omitempty" yaml:"models,omitempty"`
	ServersTransports map[string]map[string]interface{} `json:"serversTransports,omitempty" toml:"serversTransports,omitempty" yaml:"serversTransports,omitempty"`
}

// httpRouter is dynamic.Router.
type httpRouter struct {
	EntryPoints   []string               `json:"entryPoints,omitempty" toml:"entryPoints,omitempty" yaml:"entryPoints,omitempty"`
	Middlewares   []string               `json:"middlewares,omitempty" toml:"middlewares,omitempty" yaml:"middlewares,omitempty"`
	Service       string                 `json:"service,omitempty" toml:"service,omitempty" yaml:"service,omitempty"`
	Rule          string                 `json:"rule,omitempty" toml:"rule,omitempty" yaml:"rule,omitempty"`
	RuleSyntax    string                 `json:"ruleSyntax,omitempty" toml:"ruleSyntax,omitempty" yaml:"ruleSyntax,omitempty"`
	Priority      int                    `json:"priority,omitempty" toml:"priority,omitempty,omitzero" yaml:"priority,omitempty"`
	TLS           map[string]interface{} `json:"tls,omitempty" toml:"tls,omitempty" yaml:"tls,omitempty" label:"allowEmpty" file:"allowEmpty"`
	Observability map[string]interface{} `json:"observability,omitempty" toml:"observability,omitempty" yaml:"observability,omitempty"`
	DefaultRule   bool                   `json:"-" toml:"-" yaml:"-" label:"-" file:"-"`
}

// httpMiddleware is dynamic.Middleware: Chain and Plugin read, the other types raw.
type httpMiddleware struct {
	AddPrefix         map[string]interface{} `json:"addPrefix,omitempty" toml:"addPrefix,omitempty" yaml:"addPrefix,omitempty"`
	StripPrefix       map[string]interface{} `json:"stripPrefix,omitempty" toml:"stripPrefix,omitempty" yaml:"stripPrefix,omitempty"`
	StripPrefixRegex  map[string]interface{} `json:"stripPrefixRegex,omitempty" toml:"stripPrefixRegex,omitempty" yaml:"stripPrefixRegex,omitempty"`
	ReplacePath       map[string]interface{} `json:"replacePath,omitempty" toml:"replacePath,omitempty" yaml:"replacePath,omitempty"`
	ReplacePathRegex  map[string]interface{} `json:"replacePathRegex,omitempty" toml:"replacePathRegex,omitempty" yaml:"replacePathRegex,omitempty"`
	Chain             *chain                 `json:"chain,omitempty" toml:"chain,omitempty" yaml:"chain,omitempty"`
	IPWhiteList       map[string]interface{} `json:"ipWhiteList,omitempty" toml:"ipWhiteList,omitempty" yaml:"ipWhiteList,omitempty"`
	IPAllowList       map[string]interface{} `json:"ipAllowList,omitempty" toml:"ipAllowList,omitempty" yaml:"ipAllowList,omitempty"`
	Headers           map[string]interface{} `json:"headers,omitempty" toml:"headers,omitempty" yaml:"headers,omitempty"`
	Errors            map[string]interface{} `json:"errors,omitempty" toml:"errors,omitempty" yaml:"errors,omitempty"`
	RateLimit         map[string]interface{} `json:"rateLimit,omitempty" toml:"rateLimit,omitempty" yaml:"rateLimit,omitempty"`
	RedirectRegex     map[string]interface{} `json:"redirectRegex,omitempty" toml:"redirectRegex,omitempty" yaml:"redirectRegex,omitempty"`
	RedirectScheme    map[string]interface{} `json:"redirectScheme,omitempty" toml:"redirectScheme,omitempty" yaml:"redirectScheme,omitempty"`
	BasicAuth         map[string]interface{} `json:"basicAuth,omitempty" toml:"basicAuth,omitempty" yaml:"basicAuth,omitempty"`
	DigestAuth        map[string]interface{} `json:"digestAuth,omitempty" toml:"digestAuth,omitempty" yaml:"digestAuth,omitempty"`
	ForwardAuth       map[string]interface{} `json:"forwardAuth,omitempty" toml:"forwardAuth,omitempty" yaml:"forwardAuth,omitempty"`
	InFlightReq       map[string]interface{} `json:"inFlightReq,omitempty" toml:"inFlightReq,omitempty" yaml:"inFlightReq,omitempty"`
	Buffering         map[string]interface{} `json:"buffering,omitempty" toml:"buffering,omitempty" yaml:"buffering,omitempty"`
	CircuitBreaker    map[string]interface{} `json:"circuitBreaker,omitempty" toml:"circuitBreaker,omitempty" yaml:"circuitBreaker,omitempty"`
	Compress          map[string]interface{} `json:"compress,omitempty" toml:"compress,omitempty" yaml:"compress,omitempty" label:"allowEmpty" file:"allowEmpty"`
	PassTLSClientCert map[string]interface{} `json:"passTLSClientCert,omitempty" toml:"passTLSClientCert,omitempty" yaml:"passTLSClientCert,omitempty"`
	Retry             map[string]interface{} `json:"retry,omitempty" toml:"retry,omitempty" yaml:"retry,omitempty"`
	ContentType       map[string]interface{} `json:"contentType,omitempty" toml:"contentType,omitempty" yaml:"contentType,omitempty" label:"allowEmpty" file:"allowEmpty"`
	GrpcWeb           map[string]interface{} `json:"grpcWeb,omitempty" toml:"grpcWeb,omitempty" yaml:"grpcWeb,omitempty"`
	// Plugin is dynamic.Middleware's Plugin: each plugin's settings as the provider hands them over.
	Plugin map[string]map[string]interface{} `json:"plugin,omitempty" toml:"plugin,omitempty" yaml:"plugin,omitempty"`
}

// chain is dynamic.Chain.
type chain struct {
	Middlewares []string `json:"middlewares,omitempty" toml:"middlewares,omitempty" yaml:"middlewares,omitempty"`
}

// decodeFile decodes a file-provider file as Traefik does: its Go template rendered with sprig's
// functions, then paerser's file decoder by extension. env reads a variable: unset ones are
// noted by the caller.
func decodeFile(name, content string, env func(string) string) (*dynamicConfig, error) {
	funcs := sprig.TxtFuncMap()
	funcs["env"] = env
	funcs["split"] = strings.Split
	tmpl, err := template.New(name).Funcs(funcs).Parse(content)
	if err != nil {
		return nil, err
	}
	var rendered bytes.Buffer
	if err := tmpl.Execute(&rendered, false); err != nil {
		return nil, err
	}
	config := &dynamicConfig{HTTP: &httpConfig{}}
	ext := strings.ToLower(name[strings.LastIndexByte(name, '.'):])
	if err := file.DecodeContent(rendered.String(), ext, config); err != nil {
		return nil, err
	}
	return config, nil
}

// decodeLabels decodes a container's labels as Traefik's Docker provider does (label.DecodeConfiguration).
func decodeLabels(labels map[string]string) (*dynamicConfig, error) {
	config := &dynamicConfig{HTTP: &httpConfig{}}
	err := parser.Decode(labels, config, parser.DefaultRootName, "traefik.http")
	return config, err
}

// lookupEnv is os.LookupEnv, replaced by tests.
var lookupEnv, lookupEnvDefault = os.LookupEnv, os.LookupEnv
