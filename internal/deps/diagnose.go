package deps

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/airlock-dev/airlock"
)

// diagnose words a failed build in one line: the package, version or
// index at fault when the installer's output or the proxy says which.
// refused are the addresses the proxy refused, down those it could not
// reach; indexes the configured ones.
func diagnose(step airlock.Step, indexes, refused, down []string, maxBytes int64) string {
	out := string(step.Stdout) + "\n" + string(step.Stderr)
	switch step.Status {
	case airlock.StatusTimeLimit:
		return "the build ran over its time limit"
	case airlock.StatusMemoryLimit:
		return "the build ran over its memory limit"
	case airlock.StatusOutputLimit:
		if strings.Contains(step.Message, "collect") {
			return fmt.Sprintf("the environment is over %d MiB (%s)", maxBytes>>20, step.Message)
		}
	}
	if msg := unreachable(out, indexes, refused, down); msg != "" {
		return msg
	}
	for _, d := range diagnoses {
		if m := d.re.FindStringSubmatch(out); m != nil {
			return d.say(m)
		}
	}
	if step.Status == airlock.StatusOutputLimit {
		return "the installer's output ran over its limit"
	}
	if line := lastLine(step.Stderr); line != "" {
		return fmt.Sprintf("the installer failed (exit %d): %s", step.ExitCode, line)
	}
	return fmt.Sprintf("the installer failed (%s, exit %d)", step.Status, step.ExitCode)
}

// diagnoses are the installers' own words for a requirement at fault, in
// order of precedence.
var diagnoses = []struct {
	re  *regexp.Regexp
	say func(m []string) string
}{
	// pip: the versions it saw, then the requirement.
	{regexp.MustCompile(`Could not find a version that satisfies the requirement (\S+) \(from versions: none\)`),
		func(m []string) string { return fmt.Sprintf("package %s not found", projectOf(m[1])) }},
	{regexp.MustCompile(`Could not find a version that satisfies the requirement (\S+) \(from versions: ([^)]*)\)`),
		func(m []string) string {
			return fmt.Sprintf("no version of %s matches %s (there are %s)", projectOf(m[1]), m[1], m[2])
		}},
	{regexp.MustCompile(`No matching distribution found for (\S+)`),
		func(m []string) string { return fmt.Sprintf("package %s not found", projectOf(m[1])) }},
	{regexp.MustCompile(`(Cannot install [^\n]*? because these package versions have conflicting dependencies)`),
		func(m []string) string { return "conflicting requirements: " + m[1] }},
	// npm.
	{regexp.MustCompile(`No matching version found for (\S+?)\.?\n`),
		func(m []string) string { return fmt.Sprintf("no version of %s matches %s", packageOf(m[1]), m[1]) }},
	{regexp.MustCompile(`404 Not Found - GET (\S+)`),
		func(m []string) string {
			name := m[1][strings.LastIndex(m[1], "/")+1:]
			if n, err := url.PathUnescape(name); err == nil {
				name = n // a scoped name: @scope%2fname
			}
			return fmt.Sprintf("package %s not found", name)
		}},
	{regexp.MustCompile(`code ERESOLVE\n(?:npm (?:error|ERR!) )?(.*)`),
		func(m []string) string { return "conflicting requirements: " + m[1] }},
}

// unreachable names the index that could not be reached, from the
// proxy's refusals (an address beyond the indexes, such as a download
// host they link to), the hosts it could not reach, or the installer's
// errors of connection.
func unreachable(out string, indexes, refused, down []string) string {
	if len(refused) > 0 {
		return fmt.Sprintf("the installer asked for %s, which is not an allowed index (allowed: %s)",
			strings.Join(refused, ", "), strings.Join(allowed(indexes), ", "))
	}
	for _, host := range down {
		if i := slices.IndexFunc(indexes, func(index string) bool { return slices.Contains(allowed([]string{index}), host) }); i >= 0 {
			return fmt.Sprintf("index %s cannot be reached", indexes[i])
		}
	}
	if !connectionFailed.MatchString(out) {
		return ""
	}
	for _, u := range urlInOutput.FindAllString(out, -1) {
		if i := slices.IndexFunc(indexes, func(index string) bool { return sameHost(index, u) }); i >= 0 {
			return fmt.Sprintf("index %s cannot be reached", indexes[i])
		}
	}
	if len(indexes) == 1 {
		return fmt.Sprintf("index %s cannot be reached", indexes[0])
	}
	return fmt.Sprintf("the indexes %s cannot be reached", strings.Join(indexes, ", "))
}

var (
	// What pip (urllib3, through the proxy) and npm say when the index is
	// down or the proxy could not reach it.
	connectionFailed = regexp.MustCompile(`ProxyError|Tunnel connection failed|Failed to establish a new connection|Max retries exceeded|Connection refused|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|code E50[234]|50[234] Bad Gateway|Service Unavailable|Gateway Time-?out`)
	urlInOutput      = regexp.MustCompile(`https?://[^\s'"()<>,]+`)
)

// sameHost says whether two URLs name the same host and port.
func sameHost(a, b string) bool {
	ha, hb := allowed([]string{a}), allowed([]string{b})
	return len(ha) > 0 && len(hb) > 0 && ha[0] == hb[0]
}

// projectOf is the project of a requirement as pip prints it.
func projectOf(req string) string {
	if i := strings.IndexAny(req, "<>=!~[;@ "); i > 0 {
		return req[:i]
	}
	return req
}

// packageOf is the package of an npm spec (name@range, @scope/name@range).
func packageOf(spec string) string {
	if i := strings.LastIndex(spec, "@"); i > 0 {
		return spec[:i]
	}
	return spec
}

func lastLine(b []byte) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return string(bytes.TrimSpace(lines[len(lines)-1]))
}
