package deps

import (
	"net"
	"net/url"
	"path"
	"strings"

	"github.com/airlock-dev/airlock/internal/sandbox"
)

// installer is how one installer (pip, npm) is run in a build's sandbox
// and how a run finds what it installed.
type installer struct {
	// indexes are the URLs the installer fetches from, as configured:
	// part of the key, and the hosts the build's proxy allows.
	indexes func(Options) []string
	// job is the build's program and the files it starts with; it
	// installs into envDir under the work dir.
	job func(o Options, spec Spec) (argv, env []string, files []sandbox.File)
	// vars point a run's interpreter at the environment at MountPoint.
	vars []string
}

var installers = map[string]*installer{
	"pip": {
		indexes: func(o Options) []string { return o.PythonIndexes },
		job:     pipJob,
		vars:    []string{"PYTHONPATH=" + MountPoint},
	},
	"npm": {
		indexes: func(o Options) []string { return []string{o.NPMRegistry} },
		job:     npmJob,
		vars:    []string{"NODE_PATH=" + MountPoint + "/node_modules"},
	},
}

// envDir is where an installer puts the environment, relative to the
// work dir: what the build collects.
const envDir = "env"

// caTarget is where a build sees the CA bundle: where Debian's tools
// (OpenSSL, pip's certifi, and so a pip that builds a package in a pip of
// its own) look by default.
const caTarget = SystemCABundle

// proxyURL is the build's proxy, as the installers take it.
const proxyURL = "http://" + sandbox.ProxyAddr

func pipJob(o Options, spec Spec) (argv, env []string, files []sandbox.File) {
	argv = []string{"/usr/bin/python3", "-m", "pip", "install", "--target", sandbox.WorkDir + "/" + envDir,
		"--no-cache-dir", "--disable-pip-version-check", "--no-input", "--no-warn-script-location",
		// --isolated leaves PIP_* variables unread: the proxy and the CA
		// bundle go in as options too.
		"--isolated", "--retries", "1", "--timeout", "30", "--proxy", proxyURL}
	if o.CABundle != "" {
		argv = append(argv, "--cert", caTarget)
		env = append(env, "PIP_CERT="+caTarget)
	}
	argv = append(argv, "--index-url", o.PythonIndexes[0])
	for _, u := range o.PythonIndexes[1:] {
		argv = append(argv, "--extra-index-url", u)
	}
	argv = append(argv, "-r", sandbox.WorkDir+"/requirements.txt")
	var reqs strings.Builder
	for _, r := range spec.Requirements {
		reqs.WriteString(r.Text + "\n")
	}
	files = []sandbox.File{{Name: envDir + "/"}, {Name: "requirements.txt", Content: []byte(reqs.String())}}
	return argv, env, files
}

func npmJob(o Options, spec Spec) (argv, env []string, files []sandbox.File) {
	prefix := sandbox.WorkDir + "/" + envDir
	argv = []string{"/usr/bin/npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", "--no-package-lock",
		"--no-update-notifier", "--fetch-retries", "1", "--fetch-timeout", "30000", "--registry", o.NPMRegistry}
	for _, r := range spec.Requirements {
		argv = append(argv, r.Text)
	}
	env = []string{"npm_config_cache=/tmp/npm-cache", "npm_config_proxy=" + proxyURL, "npm_config_https_proxy=" + proxyURL}
	if o.CABundle != "" {
		env = append(env, "NODE_EXTRA_CA_CERTS="+caTarget)
	}
	files = []sandbox.File{{Name: envDir + "/"}, {Name: envDir + "/package.json", Content: []byte(`{"private":true}` + "\n")}}
	return argv, env, files
}

// pypiFiles is where PyPI's simple pages link their files to.
const pypiFiles = "files.pythonhosted.org:443"

// allowed are the host:port addresses a build's proxy lets the installer
// reach: those of its indexes (and PyPI's file host along with PyPI).
func allowed(indexes []string) []string {
	var hosts []string
	for _, raw := range indexes {
		u, err := url.Parse(raw) // checked by New
		if err != nil {
			continue
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		hosts = append(hosts, net.JoinHostPort(u.Hostname(), port))
		if u.Hostname() == "pypi.org" && path.Clean(u.Path) == "/simple" {
			hosts = append(hosts, pypiFiles)
		}
	}
	return hosts
}
