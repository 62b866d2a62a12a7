// Package noop is a Traefik middleware plugin that only calls the next handler.
// The benchmarks load it exactly as withauth is loaded, to measure what any Yaegi plugin costs.
package noop

import (
	"context"
	"net/http"
)

// Config is empty: the plugin has nothing to configure.
type Config struct{}

// CreateConfig returns the default configuration.
func CreateConfig() *Config { return &Config{} }

type noop struct {
	next http.Handler
}

// New returns the middleware.
func New(_ context.Context, next http.Handler, _ *Config, _ string) (http.Handler, error) {
	return &noop{next: next}, nil
}

func (n *noop) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	n.next.ServeHTTP(rw, req)
}
