module github.com/seed0ec25cca/withauth/e2e

go 1.25.0

require gopkg.in/yaml.v3 v3.0.1

require (
	github.com/go-jose/go-jose/v4 v4.1.9
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/mitchellh/mapstructure v1.5.1-0.20231216201459-8508981c8b6c
	github.com/seed0ec25cca/withauth v0.0.0
	github.com/traefik/yaegi v0.16.1
)

require golang.org/x/net v0.51.0

replace github.com/seed0ec25cca/withauth => ../
