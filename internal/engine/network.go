package engine

import (
	"slices"
	"strings"

	"github.com/airlock-dev/airlock/internal/egress"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// proxyURL is a run's proxy as HTTP clients take it.
const proxyURL = "http://" + sandbox.ProxyAddr

// proxyVars point a run's HTTP clients (Python's urllib and requests,
// curl, pip) at its proxy, for http and https alike.
var proxyVars = []string{"HTTP_PROXY=" + proxyURL, "HTTPS_PROXY=" + proxyURL, "http_proxy=" + proxyURL, "https_proxy=" + proxyURL}

// checkNetwork checks the hosts a job may reach (Request.Network), as
// the run's proxy will read them.
func checkNetwork(hosts []string) error {
	if _, err := egress.New(egress.Options{Allow: hosts}); err != nil {
		return invalid("network", "%v", err)
	}
	return nil
}

// withNetwork gives a run step the hosts it may reach (none: it keeps no
// network at all): its one way out is a proxy of its own that allows
// those hosts only. A spec with Egress never takes a warm-pool sandbox,
// which was prepared without one. The slices are copied: spec's may be
// the catalog's.
func withNetwork(spec *sandbox.Spec, hosts []string) error {
	if len(hosts) == 0 {
		return nil
	}
	proxy, err := egress.New(egress.Options{Allow: hosts})
	if err != nil {
		return err
	}
	spec.Egress = proxy.ServeConn
	// Every host goes through the proxy: an exception would be a
	// connection that cannot be made.
	env := slices.DeleteFunc(slices.Clone(spec.Env), func(v string) bool {
		name, _, _ := strings.Cut(v, "=")
		return strings.EqualFold(name, "NO_PROXY") || strings.EqualFold(name, "HTTP_PROXY") || strings.EqualFold(name, "HTTPS_PROXY")
	})
	spec.Env = append(env, proxyVars...)
	return nil
}
