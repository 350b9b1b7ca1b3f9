package deps

import (
	"fmt"
	"sort"
	"strings"
)

// Requirement is one checked requirement, normalised so that two lists
// asking for the same packages key the same environment.
type Requirement struct {
	Name string // normalised: PEP 503's form for pip, lower case for npm
	Text string // the whole requirement in normal form, as the installer gets it
}

// RequirementError is an entry of a requirement list that is refused:
// anything but a plain requirement (installer options, URLs, paths, VCS
// references, ...).
type RequirementError struct {
	Index   int    // in the list
	Entry   string // as submitted
	Problem string
}

func (e *RequirementError) Error() string {
	return fmt.Sprintf("requirements[%d] %q: %s", e.Index, e.Entry, e.Problem)
}

// MaxRequirements is the default bound on the entries of one list. Parse
// does not enforce it: the engine does, with the operator's own limit,
// which defaults to this.
const MaxRequirements = 64

// MaxEntryBytes bounds one entry: a plain requirement is short, and npm's
// longest package name (214 bytes) still fits with a version.
const MaxEntryBytes = 256

// Parse checks a requirement list for installer ("pip" or "npm") and
// returns it normalised and sorted, each requirement once: two lists that
// ask for the same packages give equal results. Anything but a plain
// requirement is refused with a *RequirementError naming the entry, and
// so is a package named twice with different texts (for pip: with the
// same environment marker).
func Parse(installer string, entries []string) ([]Requirement, error) {
	var one func(string) (parsed, string)
	switch installer {
	case "pip":
		one = parsePip
	case "npm":
		one = parseNPM
	default:
		return nil, fmt.Errorf("requirements: no installer %q (want pip or npm)", installer)
	}
	var reqs []Requirement
	first := map[string]int{} // conflict key -> index of its first entry
	texts := map[string]string{}
	for i, entry := range entries {
		var p parsed
		problem := checkEntry(entry)
		if problem == "" {
			p, problem = one(strings.TrimSpace(entry))
		}
		if problem != "" {
			return nil, &RequirementError{Index: i, Entry: entry, Problem: problem}
		}
		if j, seen := first[p.key]; seen {
			if texts[p.key] != p.req.Text {
				return nil, &RequirementError{Index: i, Entry: entry, Problem: fmt.Sprintf(
					"conflicts with requirements[%d] %q: name a package once", j, entries[j])}
			}
			continue
		}
		first[p.key], texts[p.key] = i, p.req.Text
		reqs = append(reqs, p.req)
	}
	sort.Slice(reqs, func(a, b int) bool {
		if reqs[a].Name != reqs[b].Name {
			return reqs[a].Name < reqs[b].Name
		}
		return reqs[a].Text < reqs[b].Text
	})
	return reqs, nil
}

// parsed is one entry in normal form, with the key under which two
// entries conflict when their texts differ.
type parsed struct {
	req Requirement
	key string
}

// checkEntry refuses what no installer takes: empty, over-long and
// control-character entries, and installer options. It returns the
// problem, or "" when there is none.
func checkEntry(entry string) string {
	s := strings.TrimSpace(entry)
	switch {
	case s == "":
		return "empty requirement"
	case len(entry) > MaxEntryBytes:
		return fmt.Sprintf("longer than %d bytes", MaxEntryBytes)
	case strings.HasPrefix(s, "-"):
		return "installer options are not taken"
	}
	for _, r := range entry {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return "control characters are not taken"
		}
	}
	return ""
}

// SplitFile splits a requirements.txt body into entries, as pip reads
// the file: backslash continuations joined, comments ('#' at the start of
// a line or after whitespace) and blank lines dropped, whitespace
// trimmed. Option lines (-r, --index-url, ...) are kept, so that Parse
// refuses them by name.
func SplitFile(body string) []string {
	var entries []string
	var pending strings.Builder
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(stripComment(line), " \t\r\v\f")
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending.WriteString(cont)
			continue
		}
		pending.WriteString(line)
		if e := strings.TrimSpace(pending.String()); e != "" {
			entries = append(entries, e)
		}
		pending.Reset()
	}
	if e := strings.TrimSpace(pending.String()); e != "" {
		entries = append(entries, e)
	}
	return entries
}

// stripComment cuts a line at the first '#' that starts it or follows
// whitespace.
func stripComment(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return line[:i]
		}
	}
	return line
}
