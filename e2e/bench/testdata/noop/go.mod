module github.com/seed0ec25cca/noop

go 1.22
