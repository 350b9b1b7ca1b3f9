package wire

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/airlock-dev/airlock/internal/deps"
)

// DecodeRequirements reads the submission's requirements: a JSON list of
// strings, or one string holding a requirements file's body, split into
// entries as deps.SplitFile does (comments and blank lines dropped).
// Absent or null is none; anything else is a *FieldError. The entries
// are checked against the language's installer later, by the engine.
func (s *Submission) DecodeRequirements() ([]string, error) {
	raw := bytes.TrimSpace(s.Requirements)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	const want = "want a list of strings or one string with a requirements file's text"
	switch raw[0] {
	case '"':
		var body string
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, fieldError("requirements", "%s: %v", want, err)
		}
		return deps.SplitFile(body), nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fieldError("requirements", "%s: %v", want, err)
		}
		list := make([]string, len(items))
		for i, item := range items {
			if err := json.Unmarshal(item, &list[i]); err != nil || item[0] != '"' {
				return nil, fieldError(fmt.Sprintf("requirements[%d]", i), "want a string, not %s", kind(item))
			}
		}
		return list, nil
	}
	return nil, fieldError("requirements", "%s, not %s", want, kind(raw))
}

// kind names the JSON type of a valid value that is not a string or a
// list, without repeating the value (it may be large).
func kind(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
