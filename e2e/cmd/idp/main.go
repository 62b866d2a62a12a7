// Command idp is the demo identity provider: JWKS at /.well-known/jwks.json, tokens at /token.
//
// Environment: ADDR (default 127.0.0.1:9000), ISSUER (fixed iss claim; default: the base URL a
// token was asked for on), KEY_FILE (PEM RSA private key; default: a fresh RSA-2048 key).
package main

import (
	"flag"
	"log"

	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
	"github.com/seed0ec25cca/withauth/e2e/internal/serve"
)

func main() {
	addr := flag.String("addr", serve.Env("ADDR", "127.0.0.1:9000"), "listen address")
	issuer := flag.String("issuer", serve.Env("ISSUER", ""), "fixed issuer (iss); empty: the request's base URL")
	keyFile := flag.String("key", serve.Env("KEY_FILE", ""), "PEM RSA private key; empty: generate one")
	flag.Parse()

	opts := idp.Options{Issuer: *issuer}
	if *keyFile != "" {
		key, err := idp.LoadKey(*keyFile)
		if err != nil {
			log.Fatal(err)
		}
		opts.Key = key
	}
	p, err := idp.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("idp: signing key kid=%s issuer=%q", p.KeyID(), *issuer)
	if err := serve.Run("idp", *addr, p); err != nil {
		log.Fatal(err)
	}
}
