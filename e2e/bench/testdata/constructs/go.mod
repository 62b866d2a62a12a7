module github.com/seed0ec25cca/constructs

go 1.22
