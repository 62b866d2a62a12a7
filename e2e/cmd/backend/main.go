// Command backend is the demo upstream: it answers JSON with the path and identity headers it got.
//
// Environment: ADDR (default 127.0.0.1:9001), SERVICE_NAME (reported as "service").
package main

import (
	"flag"
	"log"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/serve"
)

func main() {
	addr := flag.String("addr", serve.Env("ADDR", "127.0.0.1:9001"), "listen address")
	name := flag.String("name", serve.Env("SERVICE_NAME", "backend"), "service name to report")
	flag.Parse()
	if err := serve.Run("backend", *addr, backend.Handler(*name)); err != nil {
		log.Fatal(err)
	}
}
