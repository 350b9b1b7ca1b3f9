package depstest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestWheelRecord checks what pip does not: RECORD lists every member
// with its sha256 and size, and itself without a hash.
func TestWheelRecord(t *testing.T) {
	file, body, err := wheel(Package{Name: "My.Pkg-x", Version: "1.0+local", Requires: []string{"dep>=2", `other; os_name == "posix"`},
		Files: map[string]string{"my_pkg/__init__.py": "VALUE = 1\n", "my_pkg/a,b.txt": "comma\n"}})
	if err != nil {
		t.Fatal(err)
	}
	if file != "My_Pkg_x-1.0+local-py3-none-any.whl" {
		t.Errorf("file name %q", file)
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	members := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		members[f.Name] = string(b)
	}
	const info = "My_Pkg_x-1.0+local.dist-info/"
	rows, err := csv.NewReader(strings.NewReader(members[info+"RECORD"])).ReadAll()
	if err != nil {
		t.Fatalf("RECORD: %v", err)
	}
	listed := map[string]bool{}
	for _, row := range rows {
		name, hash, size := row[0], row[1], row[2]
		listed[name] = true
		b, ok := members[name]
		switch {
		case !ok:
			t.Errorf("RECORD lists %q, not in the wheel", name)
		case name == info+"RECORD":
			if hash != "" || size != "" {
				t.Errorf("RECORD's own row %q", row)
			}
		default:
			sum := sha256.Sum256([]byte(b))
			if hash != "sha256="+base64.RawURLEncoding.EncodeToString(sum[:]) || size != fmt.Sprint(len(b)) {
				t.Errorf("RECORD row %q does not match the member", row)
			}
		}
	}
	for name := range members {
		if !listed[name] {
			t.Errorf("%q is not in RECORD", name)
		}
	}
	wantMeta := "Metadata-Version: 2.1\nName: My.Pkg-x\nVersion: 1.0+local\nRequires-Dist: dep>=2\nRequires-Dist: other; os_name == \"posix\"\n"
	if members[info+"METADATA"] != wantMeta {
		t.Errorf("METADATA %q, want %q", members[info+"METADATA"], wantMeta)
	}
	if !strings.Contains(members[info+"WHEEL"], "Root-Is-Purelib: true\nTag: py3-none-any\n") {
		t.Errorf("WHEEL %q", members[info+"WHEEL"])
	}
}

func TestWheelRefusesBadPackages(t *testing.T) {
	for _, p := range []Package{
		{Name: "", Version: "1.0"},
		{Name: "-x", Version: "1.0"},
		{Name: "x", Version: ""},
		{Name: "x", Version: "1-0"},
		{Name: "x", Version: "1.0", Files: map[string]string{"../escape.py": ""}},
		{Name: "x", Version: "1.0", Files: map[string]string{"/abs.py": ""}},
		{Name: "x", Version: "1.0", Files: map[string]string{"x/./y.py": ""}},
		{Name: "x", Version: "1.0", Files: map[string]string{"x-1.0.dist-info/METADATA": ""}},
	} {
		if _, _, err := wheel(p); err == nil {
			t.Errorf("wheel(%+v) took it", p)
		}
	}
}
