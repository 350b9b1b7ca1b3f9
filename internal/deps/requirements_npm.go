package deps

import (
	"fmt"
	"regexp"
	"strings"
)

// An npm package spec's pieces: a package name (validate-npm-package-name's
// rules for new packages) and a semver range (node-semver's grammar) or a
// dist-tag.
var (
	npmNamePart   = regexp.MustCompile(`^[a-z0-9-][a-z0-9._-]*$`)
	npmScheme     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]+:`)
	npmOperator   = regexp.MustCompile(`^(?:[~^]|[<>]=?|=)$`)
	npmComparator = regexp.MustCompile(`^(?:[~^]|[<>]=?|=)?` + npmVersion + `$`)
	npmPartial    = regexp.MustCompile(`^` + npmVersion + `$`)
	npmDistTag    = regexp.MustCompile(`^[a-z][a-z0-9.-]*$`)
)

// npmVersion is a partial version: 1, 1.x, 1.2.3-beta.1+build.
const npmVersion = `v?(?:0|[1-9][0-9]*|[xX*])(?:\.(?:0|[1-9][0-9]*|[xX*])` +
	`(?:\.(?:0|[1-9][0-9]*|[xX*])(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?`

const npmMaxName = 214

// npmSchemes names the specs npm takes besides a registry package, each
// refused.
var npmSchemes = map[string]string{
	"git":    "VCS references are not taken",
	"github": "VCS references are not taken", "gitlab": "VCS references are not taken",
	"bitbucket": "VCS references are not taken", "gist": "VCS references are not taken",
	"http": "URLs are not taken", "https": "URLs are not taken",
	"file": "local paths are not taken", "link": "local paths are not taken",
	"npm": "aliases (npm:) are not taken",
}

// parseNPM checks one npm package spec (trimmed, without control
// characters), name or name@range, and gives its normal form:
// name@range with the range's whitespace normalised, and "*" (any
// version, as npm reads a bare name) when there is no range.
func parseNPM(s string) (parsed, string) {
	if problem := npmRefusal(s); problem != "" {
		return parsed{}, problem
	}
	at := strings.IndexByte(s[1:], '@') + 1 // a scoped name starts with '@'
	name, rng := s, "*"
	if at > 0 {
		name, rng = s[:at], s[at+1:]
		if problem := npmRefusal(rng); problem != "" {
			return parsed{}, problem
		}
		if strings.Contains(rng, "/") {
			return parsed{}, "paths and repository shorthands (owner/repo) are not taken"
		}
	}
	lower := strings.ToLower(s)
	if strings.HasSuffix(lower, ".tgz") || strings.HasSuffix(lower, ".tar.gz") || strings.HasSuffix(lower, ".tar") {
		return parsed{}, "tarballs are not taken"
	}
	if problem := npmNameProblem(name); problem != "" {
		return parsed{}, problem
	}
	rng, ok := npmRange(rng)
	if !ok {
		return parsed{}, fmt.Sprintf("%q is not a version, a semver range or a dist-tag", s[at+1:])
	}
	return parsed{req: Requirement{Name: name, Text: name + "@" + rng}, key: name}, ""
}

// npmRefusal names what a spec, or the part after its '@', is when its
// start says it is not a registry package: a VCS reference, a URL, a
// path (as npm-package-arg tells them apart).
func npmRefusal(s string) string {
	lower := strings.ToLower(s)
	if scheme := npmScheme.FindString(lower); scheme != "" {
		if problem, ok := npmSchemes[strings.TrimSuffix(scheme, ":")]; ok {
			return problem
		}
		if strings.HasPrefix(lower, "git+") {
			return "VCS references are not taken"
		}
		return fmt.Sprintf("%s specs are not taken", scheme)
	}
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~/") || strings.HasPrefix(s, "/") || strings.Contains(s, `\`) {
		return "local paths are not taken"
	}
	return ""
}

// npmNameProblem checks a package name, scoped or not.
func npmNameProblem(name string) string {
	if len(name) > npmMaxName {
		return fmt.Sprintf("an npm package name has at most %d bytes", npmMaxName)
	}
	parts := []string{name}
	if scoped, ok := strings.CutPrefix(name, "@"); ok {
		scope, pkg, found := strings.Cut(scoped, "/")
		if !found {
			return "a scoped package name is @scope/name"
		}
		parts = []string{scope, pkg}
	}
	for _, part := range parts {
		switch {
		case strings.Contains(part, "/"):
			return "paths and repository shorthands (owner/repo) are not taken"
		case strings.ToLower(part) != part:
			return "npm package names are lower case"
		case part == "node_modules" || part == "favicon.ico":
			return fmt.Sprintf("%q is not an npm package name", part)
		case !npmNamePart.MatchString(part):
			return fmt.Sprintf("%q is not an npm package name (a-z, 0-9, '-', '.', '_'; not starting with '.' or '_')", name)
		}
	}
	return ""
}

// npmRange checks a semver range or a dist-tag and gives it with
// canonical spacing: comparators separated by one space, an operator
// joined to its version, alternatives by " || ".
func npmRange(r string) (string, bool) {
	alts := strings.Split(r, "||")
	for i, alt := range alts {
		toks := strings.Fields(alt)
		var sets []string
		for j := 0; j < len(toks); j++ {
			if npmOperator.MatchString(toks[j]) && j+1 < len(toks) {
				toks[j+1] = toks[j] + toks[j+1] // ">= 1.2" is ">=1.2"
				continue
			}
			sets = append(sets, toks[j])
		}
		if len(sets) == 0 {
			return "", false
		}
		if len(sets) == 3 && sets[1] == "-" {
			if !npmPartial.MatchString(sets[0]) || !npmPartial.MatchString(sets[2]) {
				return "", false
			}
		} else {
			for _, c := range sets {
				if !npmComparator.MatchString(c) {
					return npmTag(r)
				}
			}
		}
		alts[i] = strings.Join(sets, " ")
	}
	return strings.Join(alts, " || "), true
}

// npmTag checks a dist-tag (latest, next, beta-2): starting with a
// letter, so that it cannot be mistaken for a version.
func npmTag(r string) (string, bool) {
	r = strings.TrimSpace(r)
	return r, npmDistTag.MatchString(r)
}
