package lang

import "testing"

func TestLookup(t *testing.T) {
	for name, want := range map[string]string{"py": "python", "Python": "python", "node": "javascript", "javascript": "javascript"} {
		r, err := Lookup(name)
		if err != nil || r.ID != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", name, r.ID, err, want)
		}
	}
	if _, err := Lookup("cobol"); err == nil {
		t.Error("unknown language accepted")
	}
	if r, err := ForFile("a/b.JS"); err != nil || r.ID != "javascript" {
		t.Errorf("ForFile: %v %v", r.ID, err)
	}
	if _, err := ForFile("x.txt"); err == nil {
		t.Error("unknown extension accepted")
	}
}
