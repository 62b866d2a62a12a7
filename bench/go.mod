module github.com/seed0ec25cca/withauth/bench

go 1.22

require (
	github.com/mitchellh/mapstructure v1.5.1-0.20231216201459-8508981c8b6c
	github.com/seed0ec25cca/withauth v0.0.0-00010101000000-000000000000
	github.com/traefik/yaegi v0.16.1
)

replace github.com/seed0ec25cca/withauth => ../
