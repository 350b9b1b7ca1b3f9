module github.com/airlock-dev/airlock

go 1.26

require golang.org/x/sys v0.33.0 // indirect
