package depstest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"path"
	"sort"
	"strings"
)

// sdist builds p's source distribution: <name>-<version>.tar.gz holding
// <name>-<version>/ with PKG-INFO, setup.py (p.SetupPy) and p's files.
// pip runs its setup.py to install it: code of the package's, run at
// install time. It returns the file name and contents.
func sdist(p Package) (string, []byte, error) {
	if !distName.MatchString(p.Name) {
		return "", nil, fmt.Errorf("package name %q: not a PEP 508 name", p.Name)
	}
	if !wheelVersion.MatchString(p.Version) {
		return "", nil, fmt.Errorf("package %s: version %q: want a PEP 440 version", p.Name, p.Version)
	}
	stem := nameRuns.ReplaceAllString(p.Name, "_") + "-" + p.Version
	var info strings.Builder
	fmt.Fprintf(&info, "Metadata-Version: 2.1\nName: %s\nVersion: %s\n", p.Name, p.Version)
	for _, r := range p.Requires {
		fmt.Fprintf(&info, "Requires-Dist: %s\n", r)
	}
	members := map[string]string{"PKG-INFO": info.String(), "setup.py": p.SetupPy}
	for name, body := range p.Files {
		if path.IsAbs(name) || path.Clean(name) != name || strings.HasPrefix(name, "../") || members[name] != "" {
			return "", nil, fmt.Errorf("package %s: file %q: want a clean relative path other than PKG-INFO and setup.py", p.Name, name)
		}
		members[name] = body
	}
	data, err := tarGz(stem, members)
	if err != nil {
		return "", nil, err
	}
	return stem + ".tar.gz", data, nil
}

// tarGz is files (by name) as a .tar.gz under dir, in name order and
// with a fixed time, so that its hash does not change between runs.
func tarGz(dir string, files map[string]string) ([]byte, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range names {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: dir + "/" + name, Mode: 0o644, Size: int64(len(body)), ModTime: wheelTime, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
