package depstest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

var (
	// distName is PEP 508's distribution name.
	distName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$`)
	nameRuns = regexp.MustCompile(`[-_.]+`)
	// wheelVersion keeps a version out of the wheel's file name fields.
	wheelVersion = regexp.MustCompile(`^[A-Za-z0-9.+!]+$`)
)

// normalised is PEP 503's form of a project name: the index's path.
func normalised(name string) string {
	return strings.ToLower(nameRuns.ReplaceAllString(name, "-"))
}

// wheelTime stamps every member, so that a package builds the same wheel
// (and the same sha256) every time.
var wheelTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// wheel builds p's py3-none-any wheel (PEP 427): its files, then the
// dist-info directory's METADATA, WHEEL and RECORD. It returns the
// wheel's file name and contents.
func wheel(p Package) (string, []byte, error) {
	if !distName.MatchString(p.Name) {
		return "", nil, fmt.Errorf("package name %q: not a PEP 508 name", p.Name)
	}
	if !wheelVersion.MatchString(p.Version) {
		return "", nil, fmt.Errorf("package %s: version %q: want a PEP 440 version", p.Name, p.Version)
	}
	stem := nameRuns.ReplaceAllString(p.Name, "_") + "-" + p.Version
	distInfo := stem + ".dist-info/"

	var metadata strings.Builder
	fmt.Fprintf(&metadata, "Metadata-Version: 2.1\nName: %s\nVersion: %s\n", p.Name, p.Version)
	for _, r := range p.Requires {
		fmt.Fprintf(&metadata, "Requires-Dist: %s\n", r)
	}
	members := map[string]string{
		distInfo + "METADATA": metadata.String(),
		distInfo + "WHEEL":    "Wheel-Version: 1.0\nGenerator: airlock-depstest\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
	}
	for name, body := range p.Files {
		if path.IsAbs(name) || path.Clean(name) != name || strings.HasPrefix(name, "../") || strings.HasPrefix(name, distInfo) {
			return "", nil, fmt.Errorf("package %s: file %q: want a clean relative path outside the dist-info", p.Name, name)
		}
		members[name] = body
	}
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	sort.Strings(names)

	var buf, record bytes.Buffer
	zw := zip.NewWriter(&buf)
	rw := csv.NewWriter(&record)
	for _, name := range names {
		body := members[name]
		sum := sha256.Sum256([]byte(body))
		rw.Write([]string{name, "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]), fmt.Sprint(len(body))})
		if err := add(zw, name, body); err != nil {
			return "", nil, err
		}
	}
	rw.Write([]string{distInfo + "RECORD", "", ""}) // RECORD cannot hash itself
	rw.Flush()
	if err := rw.Error(); err != nil {
		return "", nil, err
	}
	if err := add(zw, distInfo+"RECORD", record.String()); err != nil {
		return "", nil, err
	}
	if err := zw.Close(); err != nil {
		return "", nil, err
	}
	return stem + "-py3-none-any.whl", buf.Bytes(), nil
}

func add(zw *zip.Writer, name, body string) error {
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: wheelTime})
	if err != nil {
		return err
	}
	_, err = w.Write([]byte(body))
	return err
}
