package deps

import "fmt"

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
