package deps

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// PEP 508's and PEP 440's pieces of a requirement.
var (
	pipName       = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?`)
	pipNameRuns   = regexp.MustCompile(`[-_.]+`)
	pipScheme     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]+:`)
	pipVersionOp  = regexp.MustCompile(`^(?:===|==|!=|<=|>=|~=|<|>)`)
	pipVersionTok = regexp.MustCompile(`^[A-Za-z0-9_.*+!-]+`)
	pipMarkerWord = regexp.MustCompile(`^[A-Za-z0-9_.]+`)
	// A marker's string literal: PEP 508 takes more, but the text is a
	// line of a requirements file, where a '#' after whitespace starts a
	// comment, a token starting with '-' is an option and ${VAR} is
	// expanded: no whitespace, '#', '$' or braces, then.
	pipMarkerString = regexp.MustCompile(`^[A-Za-z0-9._+*!~,:=<>^-]*$`)
)

// The versions each operator takes (PEP 440, as pip's packaging reads
// them): == and != also a local version or a prefix (1.2.*), ~= at least
// two release numbers, the others neither.
const (
	pep440Head = `(?i)^v?(?:[0-9]+!)?[0-9]+`
	pep440Pre  = `(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?`
	pep440Post = `(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?`
	pep440Dev  = `(?:[-_.]?dev[-_.]?[0-9]*)?`
)

var (
	pipVersionEqual      = regexp.MustCompile(pep440Head + `(?:\.[0-9]+)*` + pep440Pre + pep440Post + `(?:` + pep440Dev + `(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?|\.\*)$`)
	pipVersionCompatible = regexp.MustCompile(pep440Head + `(?:\.[0-9]+)+` + pep440Pre + pep440Post + pep440Dev + `$`)
	pipVersionOrdered    = regexp.MustCompile(pep440Head + `(?:\.[0-9]+)*` + pep440Pre + pep440Post + pep440Dev + `$`)
)

// pipMarkerVariables are PEP 508's environment markers: nothing else may
// be named in a marker.
var pipMarkerVariables = map[string]bool{
	"python_version": true, "python_full_version": true, "os_name": true,
	"sys_platform": true, "platform_release": true, "platform_system": true,
	"platform_version": true, "platform_machine": true,
	"platform_python_implementation": true, "implementation_name": true,
	"implementation_version": true, "extra": true,
}

var pipArchiveSuffixes = []string{".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar"}

var pipVCSPrefixes = []string{"git+", "hg+", "svn+", "bzr+"}

// parsePip checks one PEP 508 requirement string (trimmed, without
// control characters) and gives its normal form: the name in PEP 503's
// form, extras lower case and sorted, version specifiers without spaces
// and sorted, the marker with canonical spacing and double quotes. It
// returns the problem when it is refused.
func parsePip(s string) (parsed, string) {
	if problem := pipRefusal(s); problem != "" {
		return parsed{}, problem
	}
	p := &pipScanner{s: s}
	name := p.match(pipName)
	if name == "" {
		return parsed{}, "not a PEP 508 requirement: it must start with a package name"
	}
	for _, suffix := range pipArchiveSuffixes {
		if strings.HasSuffix(strings.ToLower(name), suffix) {
			return parsed{}, "archives are not taken"
		}
	}
	name = strings.ToLower(pipNameRuns.ReplaceAllString(name, "-"))
	text := name
	if extras := p.extras(); len(extras) > 0 {
		text += "[" + strings.Join(extras, ",") + "]"
	}
	text += strings.Join(p.specifiers(), ",")
	p.space()
	var marker string
	if p.eat(";") {
		marker = p.markerOr()
		text += "; " + marker
	}
	p.space()
	if p.problem == "" && p.i < len(p.s) {
		p.fail(fmt.Sprintf("unexpected %q", p.s[p.i:]))
	}
	if p.problem != "" {
		return parsed{}, "not a PEP 508 requirement: " + p.problem
	}
	return parsed{req: Requirement{Name: name, Text: text}, key: name + ";" + marker}, ""
}

// pipRefusal names what a requirement string is when it is not a plain
// requirement: a VCS reference, a URL, a direct reference, a path.
func pipRefusal(s string) string {
	lower := strings.ToLower(s)
	switch {
	case hasAnyPrefix(lower, pipVCSPrefixes):
		return "VCS references are not taken"
	case pipScheme.MatchString(s):
		return "URLs are not taken"
	}
	if _, ref, ok := strings.Cut(lower, "@"); ok {
		ref = strings.TrimSpace(ref)
		switch {
		case hasAnyPrefix(ref, pipVCSPrefixes):
			return "VCS references are not taken"
		case pipScheme.MatchString(ref):
			return "URLs are not taken (no direct references: name @ url)"
		}
		return "direct references (name @ url) are not taken"
	}
	switch {
	case strings.Contains(s, "://"):
		return "URLs are not taken"
	case strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~") || strings.ContainsAny(s, `/\`):
		return "local paths are not taken"
	}
	return ""
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// pipScanner reads a requirement string left to right; the first problem
// it meets stops it (every method does nothing once problem is set).
type pipScanner struct {
	s       string
	i       int
	problem string
}

func (p *pipScanner) fail(problem string) {
	if p.problem == "" {
		p.problem = problem
	}
}

func (p *pipScanner) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *pipScanner) eat(tok string) bool {
	if p.problem == "" && strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

// eatWord eats a keyword (and, or, in, not) that is not the start of a
// longer word.
func (p *pipScanner) eatWord(w string) bool {
	rest := p.s[p.i:]
	if p.problem != "" || !strings.HasPrefix(rest, w) || pipMarkerWord.MatchString(rest[len(w):]) {
		return false
	}
	p.i += len(w)
	return true
}

func (p *pipScanner) match(re *regexp.Regexp) string {
	if p.problem != "" {
		return ""
	}
	m := re.FindString(p.s[p.i:])
	p.i += len(m)
	return m
}

// extras reads an optional [a, b] list: lower case, sorted, each once.
func (p *pipScanner) extras() []string {
	p.space()
	if !p.eat("[") {
		return nil
	}
	var extras []string
	for {
		p.space()
		if len(extras) == 0 && p.eat("]") {
			return nil
		}
		e := p.match(pipName)
		if e == "" {
			p.fail("an extra must be a name")
			return nil
		}
		extras = append(extras, strings.ToLower(e))
		p.space()
		if p.eat("]") {
			break
		}
		if !p.eat(",") {
			p.fail("extras are separated by ',' and closed by ']'")
			return nil
		}
	}
	slices.Sort(extras)
	return slices.Compact(extras)
}

// specifiers reads optional version specifiers, comma-separated, in
// optional parentheses: without spaces, lower case, sorted, each once.
func (p *pipScanner) specifiers() []string {
	p.space()
	paren := p.eat("(")
	var specs []string
	for {
		p.space()
		op := p.match(pipVersionOp)
		if op == "" {
			if len(specs) > 0 || paren {
				p.fail("expected a version specifier (==, !=, <=, >=, <, >, ~=, ===)")
			}
			break
		}
		p.space()
		v := p.match(pipVersionTok)
		if !pipVersionTaken(op, v) {
			p.fail(fmt.Sprintf("%q is not a version %s takes", v, op))
			return nil
		}
		specs = append(specs, op+strings.ToLower(v))
		p.space()
		if !p.eat(",") {
			break
		}
	}
	if paren {
		p.space()
		if !p.eat(")") {
			p.fail("expected ')' after the version specifiers")
		}
	}
	slices.Sort(specs)
	return slices.Compact(specs)
}

func pipVersionTaken(op, v string) bool {
	switch op {
	case "===":
		return v != ""
	case "==", "!=":
		return pipVersionEqual.MatchString(v)
	case "~=":
		return pipVersionCompatible.MatchString(v)
	}
	return pipVersionOrdered.MatchString(v)
}

// markerOr reads marker_or: marker_and ('or' marker_and)*.
func (p *pipScanner) markerOr() string {
	m := p.markerAnd()
	for p.space(); p.eatWord("or"); p.space() {
		m += " or " + p.markerAnd()
	}
	return m
}

// markerAnd reads marker_and: marker_expr ('and' marker_expr)*.
func (p *pipScanner) markerAnd() string {
	m := p.markerExpr()
	for p.space(); p.eatWord("and"); p.space() {
		m += " and " + p.markerExpr()
	}
	return m
}

// markerExpr reads value op value, or a parenthesised marker.
func (p *pipScanner) markerExpr() string {
	p.space()
	if p.eat("(") {
		m := p.markerOr()
		p.space()
		if !p.eat(")") {
			p.fail("expected ')' in the environment marker")
		}
		return "(" + m + ")"
	}
	lhs := p.markerValue()
	p.space()
	op := p.match(pipVersionOp)
	switch {
	case op != "":
	case p.eatWord("in"):
		op = "in"
	case p.eatWord("not"):
		p.space()
		if !p.eatWord("in") {
			p.fail("expected 'in' after 'not' in the environment marker")
		}
		op = "not in"
	default:
		p.fail("expected a comparison in the environment marker")
	}
	p.space()
	return lhs + " " + op + " " + p.markerValue()
}

// markerValue reads a marker variable or a quoted string.
func (p *pipScanner) markerValue() string {
	if p.problem != "" {
		return ""
	}
	if p.i < len(p.s) && (p.s[p.i] == '"' || p.s[p.i] == '\'') {
		q := p.s[p.i]
		end := strings.IndexByte(p.s[p.i+1:], q)
		if end < 0 {
			p.fail("an unterminated string in the environment marker")
			return ""
		}
		v := p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
		if !pipMarkerString.MatchString(v) {
			p.fail(fmt.Sprintf("marker string %q: only letters, digits and ._+*!~,:=<>^- are taken", v))
		}
		return `"` + v + `"`
	}
	w := p.match(pipMarkerWord)
	switch {
	case w == "":
		p.fail("expected a marker variable or a quoted string")
	case !pipMarkerVariables[w]:
		p.fail(fmt.Sprintf("unknown marker variable %q", w))
	}
	return w
}
