module github.com/seed0ec25cca/withauth/e2e

go 1.22

require gopkg.in/yaml.v3 v3.0.1

require github.com/seed0ec25cca/withauth v0.0.0

replace github.com/seed0ec25cca/withauth => ../
