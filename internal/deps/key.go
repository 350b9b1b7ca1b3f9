package deps

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// keyFormat changes when the layout of an environment does, so that an
// old cache's entries are never taken for new ones.
const keyFormat = "airlock-env/1"

// keyInput is everything an environment's content depends on.
type keyInput struct {
	Format       string
	Language     string
	Version      string
	Installer    string
	Requirements []string // normal forms, sorted
	Indexes      []string // pip's index URLs in order, or npm's registry
	CA           string   // sha256 of the CA bundle's content; empty without one
}

// Key is the content key of the environment spec asks for under an
// installer configuration: indexes (pip's index URLs, or npm's registry)
// and the CA bundle's content hash. It is hex, fit for a file name.
func Key(spec Spec, indexes []string, caHash string) string {
	in := keyInput{
		Format:   keyFormat,
		Language: spec.Language.ID,
		Version:  spec.Version,
		// The installer is a property of the language, but a catalog may
		// change it: an environment made by pip is no npm environment.
		Installer: spec.Language.Installer,
		Indexes:   indexes,
		CA:        caHash,
	}
	for _, r := range spec.Requirements {
		in.Requirements = append(in.Requirements, r.Text)
	}
	// Parse sorts; sorting again keeps the key a function of the set
	// whoever built the list.
	slices.Sort(in.Requirements)
	// JSON quotes every string, so no two inputs encode alike.
	b, err := json.Marshal(in)
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// contentHash is the hex sha256 of data (a CA bundle).
func contentHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
