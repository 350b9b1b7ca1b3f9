module github.com/airlock-dev/airlock

go 1.26.0

require (
	github.com/elastic/go-seccomp-bpf v1.6.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
