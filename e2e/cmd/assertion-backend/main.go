// Command assertion-backend is an example backend that trusts withauth's signed assertion, not
// its identity headers: every request must carry an assertion that verifies against the keys
// withauth publishes (upstreamJwksPath), for the configured issuer and audience.
//
//	assertion-backend -listen :9002 -jwks https://api.example.com/.well-known/withauth-jwks.json \
//	  -issuer https://gateway.example.com -audience api.example.com
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/assertion"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9002", "address to serve on")
	jwks := flag.String("jwks", "", "withauth's upstreamJwksPath, as this backend reaches it")
	issuer := flag.String("issuer", "", "withauth's upstreamTokenIssuer")
	audience := flag.String("audience", "", "withauth's upstreamTokenAudience (or the Host clients use)")
	header := flag.String("header", "X-Withauth-Assertion", "withauth's upstreamTokenHeader")
	flag.Parse()
	if *jwks == "" || *issuer == "" || *audience == "" {
		log.Fatal("assertion-backend: -jwks, -issuer and -audience are required")
	}
	v := &assertion.Verifier{JWKSURL: *jwks, Issuer: *issuer, Audience: *audience, Client: &http.Client{Timeout: 5 * time.Second}}
	log.Printf("assertion-backend on %s, trusting %s", *listen, *jwks)
	claims := http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(map[string]string{"sub": req.Header.Get("X-User-Assertion-Sub")})
	})
	log.Fatal(http.ListenAndServe(*listen, assertion.Handler(v, *header, claims)))
}
