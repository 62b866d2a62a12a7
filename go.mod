module github.com/seed0ec25cca/withauth

go 1.22
