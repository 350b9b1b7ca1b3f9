package deps

import (
	"encoding/json"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// pipTaken are pip entries Parse takes, with their normal form.
var pipTaken = []struct{ entry, name, text string }{
	{"numpy", "numpy", "numpy"},
	{"NumPy==1.24.0", "numpy", "numpy==1.24.0"},
	{"  scipy == 1.10.0  ", "scipy", "scipy==1.10.0"},
	{"Foo_Bar.baz", "foo-bar-baz", "foo-bar-baz"},
	{"foo__-._bar", "foo-bar", "foo-bar"},
	{"requests[Socks, security]>=2.8.1, ==2.8.*", "requests", "requests[security,socks]==2.8.*,>=2.8.1"},
	{"requests [security] (>=2.8.1 ,<3)", "requests", "requests[security]<3,>=2.8.1"},
	{"pkg[]", "pkg", "pkg"},
	{"pkg[a,a,B]", "pkg", "pkg[a,b]"},
	{"pkg>=1.0,>=1.0", "pkg", "pkg>=1.0"},
	{"pkg~=1.4.5", "pkg", "pkg~=1.4.5"},
	{"pkg!=1.0RC1", "pkg", "pkg!=1.0rc1"},
	{"pkg===1.0-custom", "pkg", "pkg===1.0-custom"},
	{"pkg==1.0+local.7", "pkg", "pkg==1.0+local.7"},
	{"pkg>1!2.0.post1.dev3", "pkg", "pkg>1!2.0.post1.dev3"},
	{"pkg<v2", "pkg", "pkg<v2"},
	{"pkg; python_version<'3.8'", "pkg", `pkg; python_version < "3.8"`},
	{"pkg>=1 ;python_version >= \"3.8\"and(os_name=='posix' or sys_platform  not   in 'win32,cygwin')",
		"pkg", `pkg>=1; python_version >= "3.8" and (os_name == "posix" or sys_platform not in "win32,cygwin")`},
	{`pkg; "linux" in sys_platform and platform_machine=="x86_64"`, "pkg", `pkg; "linux" in sys_platform and platform_machine == "x86_64"`},
	{`pkg; implementation_name == "cpython" and platform_python_implementation != "PyPy"`, "pkg",
		`pkg; implementation_name == "cpython" and platform_python_implementation != "PyPy"`},
	{`pkg; extra == 'test'`, "pkg", `pkg; extra == "test"`},
	{"pkg; python_version == python_version", "pkg", "pkg; python_version == python_version"},
	{"a", "a", "a"},
	{"A1", "a1", "a1"},
}

// pipRefused are pip entries Parse refuses, each with its problem.
var pipRefused = []struct{ entry, problem string }{
	{"", "empty requirement"},
	{"   ", "empty requirement"},
	{"--index-url=https://evil.example/simple", "installer options are not taken"},
	{"-e .", "installer options are not taken"},
	{"-r other.txt", "installer options are not taken"},
	{"-c constraints.txt", "installer options are not taken"},
	{"--extra-index-url https://evil.example", "installer options are not taken"},
	{"--trusted-host evil.example", "installer options are not taken"},
	{"-f https://evil.example/links", "installer options are not taken"},
	{" -e git+https://x/y.git", "installer options are not taken"},
	{"pkg @ https://evil.example/pkg-1.0.tar.gz", "URLs are not taken"},
	{"pkg@file:///tmp/pkg", "URLs are not taken"},
	{"pkg @ git+https://github.com/x/y.git", "VCS references are not taken"},
	{"pkg @ ./local", "direct references (name @ url) are not taken"},
	{"https://evil.example/pkg-1.0-py3-none-any.whl", "URLs are not taken"},
	{"file:pkg", "URLs are not taken"},
	{"git+https://github.com/x/y.git#egg=y", "VCS references are not taken"},
	{"hg+https://x.example/y", "VCS references are not taken"},
	{"svn+svn://x.example/y", "VCS references are not taken"},
	{"bzr+lp:y", "VCS references are not taken"},
	{"./pkg", "local paths are not taken"},
	{"../pkg", "local paths are not taken"},
	{"/tmp/pkg", "local paths are not taken"},
	{"~/pkg", "local paths are not taken"},
	{"dir/pkg", "local paths are not taken"},
	{`C:\pkg`, "local paths are not taken"},
	{"pkg-1.0-py3-none-any.whl", "archives are not taken"},
	{"pkg-1.0.tar.gz", "archives are not taken"},
	{"pkg.ZIP", "archives are not taken"},
	{"pkg\x00", "control characters are not taken"},
	{"pkg\n--index-url=x", "control characters are not taken"},
	{"pkg\r", "control characters are not taken"},
	{"pkg==1.0\x7f", "control characters are not taken"},
	{strings.Repeat("a", MaxEntryBytes+1), "longer than"},
	{"_pkg", "must start with a package name"},
	{"pkg-", "unexpected"},
	{"pkg==", `"" is not a version == takes`},
	{"pkg==1.0 --hash=sha256:00", "unexpected"},
	{"pkg==1.0 #comment", "unexpected"},
	{"pkg=1.0", "unexpected"},
	{"pkg~=1", `"1" is not a version ~= takes`},
	{"pkg>=1.*", `"1.*" is not a version >= takes`},
	{"pkg<1.0+local", `is not a version < takes`},
	{"pkg==1.0,", "expected a version specifier"},
	{"pkg (>=1.0", "expected ')'"},
	{"pkg ()", "expected a version specifier"},
	{"pkg[a", "extras are separated"},
	{"pkg[a b]", "extras are separated"},
	{"pkg[-a]", "an extra must be a name"},
	{"pkg;", "expected a marker variable or a quoted string"},
	{"pkg; os.name == 'posix'", `unknown marker variable "os.name"`},
	{"pkg; python_implementation == 'CPython'", `unknown marker variable "python_implementation"`},
	{"pkg; __import__ == 'os'", `unknown marker variable "__import__"`},
	{"pkg; python_version = '3'", "expected a comparison"},
	{"pkg; python_version not '3'", "expected 'in' after 'not'"},
	{"pkg; python_version == '3", "unterminated string"},
	{"pkg; os_name == 'a --index-url=x'", "marker string"},
	{"pkg; os_name == 'a#b'", "marker string"},
	{"pkg; os_name == '${HOME}'", "marker string"},
	{"pkg; (os_name == 'posix'", "expected ')'"},
	{"pkg; os_name == 'posix' andos_name == 'x'", "unexpected"},
	{"pkg; os_name == 'posix' or", "expected a marker variable"},
	{"pkg (==1.0); os_name == 'posix' ; x", "unexpected"},
}

func TestParsePipTakes(t *testing.T) {
	for _, c := range pipTaken {
		reqs, err := Parse("pip", []string{c.entry})
		if err != nil {
			t.Errorf("Parse(%q): %v", c.entry, err)
			continue
		}
		want := []Requirement{{Name: c.name, Text: c.text}}
		if !reflect.DeepEqual(reqs, want) {
			t.Errorf("Parse(%q) = %+v, want %+v", c.entry, reqs, want)
		}
	}
}

func TestParsePipRefuses(t *testing.T) {
	for _, c := range pipRefused {
		refused(t, "pip", c.entry, c.problem)
	}
}

// refused checks that Parse refuses entry, as the second of a list, with
// a *RequirementError naming it and problem.
func refused(t *testing.T, installer, entry, problem string) {
	t.Helper()
	reqs, err := Parse(installer, []string{"ok", entry})
	var re *RequirementError
	if !errors.As(err, &re) {
		t.Errorf("Parse(%q) = %+v, %v; want a *RequirementError", entry, reqs, err)
		return
	}
	if re.Index != 1 || re.Entry != entry || !strings.Contains(re.Problem, problem) {
		t.Errorf("Parse(%q): %+v; want index 1 and a problem with %q", entry, re, problem)
	}
	if !strings.Contains(err.Error(), "requirements[1]") {
		t.Errorf("Parse(%q): %q does not name the entry", entry, err)
	}
}

// npmTaken are npm entries Parse takes, with their normal form.
var npmTaken = []struct{ entry, name, text string }{
	{"lodash", "lodash", "lodash@*"},
	{"lodash@4.17.21", "lodash", "lodash@4.17.21"},
	{" lodash@ 4.17.21 ", "lodash", "lodash@4.17.21"},
	{"@types/node@^20.1.0", "@types/node", "@types/node@^20.1.0"},
	{"@scope/pkg", "@scope/pkg", "@scope/pkg@*"},
	{"left-pad@~1.3", "left-pad", "left-pad@~1.3"},
	{"a.b_c-d@>= 1.2.3   <2.0.0-beta.1", "a.b_c-d", "a.b_c-d@>=1.2.3 <2.0.0-beta.1"},
	{"x@1.x||2.X  ||  >=3 <4", "x", "x@1.x || 2.X || >=3 <4"},
	{"x@1.2.3 - 2.3", "x", "x@1.2.3 - 2.3"},
	{"x@*", "x", "x@*"},
	{"x@v1.2.3+build.5", "x", "x@v1.2.3+build.5"},
	{"x@=1.0.0", "x", "x@=1.0.0"},
	{"x@latest", "x", "x@latest"},
	{"x@next-2.beta", "x", "x@next-2.beta"},
	{"react-dom@18.2.0", "react-dom", "react-dom@18.2.0"},
	{strings.Repeat("n", npmMaxName) + "@1", strings.Repeat("n", npmMaxName), strings.Repeat("n", npmMaxName) + "@1"},
}

// npmRefused are npm entries Parse refuses, each with its problem.
var npmRefused = []struct{ entry, problem string }{
	{"", "empty requirement"},
	{"--registry=https://evil.example", "installer options are not taken"},
	{"-g", "installer options are not taken"},
	{"git+https://github.com/x/y.git", "VCS references are not taken"},
	{"git+ssh://git@github.com/x/y.git", "VCS references are not taken"},
	{"git://github.com/x/y.git", "VCS references are not taken"},
	{"github:x/y", "VCS references are not taken"},
	{"gitlab:x/y", "VCS references are not taken"},
	{"x@git+https://github.com/x/y.git", "VCS references are not taken"},
	{"x@github:x/y", "VCS references are not taken"},
	{"https://evil.example/x.tgz", "URLs are not taken"},
	{"x@https://evil.example/x.tgz", "URLs are not taken"},
	{"file:../x", "local paths are not taken"},
	{"x@file:../x", "local paths are not taken"},
	{"x@link:../x", "local paths are not taken"},
	{"x@npm:lodash@4", "aliases (npm:) are not taken"},
	{"x@workspace:*", "workspace: specs are not taken"},
	{"./x", "local paths are not taken"},
	{"../x", "local paths are not taken"},
	{"/tmp/x", "local paths are not taken"},
	{"~/x", "local paths are not taken"},
	{`x\y`, "local paths are not taken"},
	{"x.tgz", "tarballs are not taken"},
	{"x-1.0.0.tar.gz", "tarballs are not taken"},
	{"x@./x.tgz", "local paths are not taken"},
	{"owner/repo", "paths and repository shorthands"},
	{"x@owner/repo", "paths and repository shorthands"},
	{"@scope/x/y", "paths and repository shorthands"},
	{"@scope", "a scoped package name is @scope/name"},
	{"@/x", "is not an npm package name"},
	{"Lodash", "npm package names are lower case"},
	{"_x", "is not an npm package name"},
	{".x", "local paths are not taken"},
	{"x y", "is not an npm package name"},
	{"x!", "is not an npm package name"},
	{"node_modules", "is not an npm package name"},
	{strings.Repeat("n", npmMaxName+1), "at most 214 bytes"},
	{strings.Repeat("n", MaxEntryBytes+1), "longer than"},
	{"x@", "is not a version, a semver range or a dist-tag"},
	{"x@1.2.3 - ", "is not a version, a semver range or a dist-tag"},
	{"x@1 ||", "is not a version, a semver range or a dist-tag"},
	{"x@Latest", "is not a version, a semver range or a dist-tag"},
	{"x@1.0.0 --registry=x", "is not a version, a semver range or a dist-tag"},
	{"x@01.2", "is not a version, a semver range or a dist-tag"},
	{"x@1\x00", "control characters are not taken"},
	{"x\n-g", "control characters are not taken"},
}

func TestParseNPMTakes(t *testing.T) {
	for _, c := range npmTaken {
		reqs, err := Parse("npm", []string{c.entry})
		if err != nil {
			t.Errorf("Parse(%q): %v", c.entry, err)
			continue
		}
		want := []Requirement{{Name: c.name, Text: c.text}}
		if !reflect.DeepEqual(reqs, want) {
			t.Errorf("Parse(%q) = %+v, want %+v", c.entry, reqs, want)
		}
	}
}

func TestParseNPMRefuses(t *testing.T) {
	for _, c := range npmRefused {
		refused(t, "npm", c.entry, c.problem)
	}
}

func TestParseListsAskingTheSameAreEqual(t *testing.T) {
	a, err := Parse("pip", []string{"SciPy==1.10.0", "numpy >=1.24, <2", "Requests[socks]"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("pip", []string{"requests[SOCKS]", "numpy<2,>=1.24", "scipy == 1.10.0", "scipy==1.10.0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Requirement{
		{Name: "numpy", Text: "numpy<2,>=1.24"},
		{Name: "requests", Text: "requests[socks]"},
		{Name: "scipy", Text: "scipy==1.10.0"},
	}
	if !reflect.DeepEqual(a, want) || !reflect.DeepEqual(b, want) {
		t.Errorf("Parse gave\n%+v and\n%+v, want both\n%+v", a, b, want)
	}
	n, err := Parse("npm", []string{"lodash@4.17.21", "@types/node@20", "lodash@ 4.17.21"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Requirement{{"@types/node", "@types/node@20"}, {"lodash", "lodash@4.17.21"}}; !reflect.DeepEqual(n, want) {
		t.Errorf("Parse(npm) = %+v, want %+v", n, want)
	}
}

func TestParseRefusesConflicts(t *testing.T) {
	for _, c := range []struct {
		installer string
		entries   []string
	}{
		{"pip", []string{"numpy==1.24.0", "scipy", "NumPy==1.25.0"}},
		{"pip", []string{"numpy", "scipy", "numpy[extra]"}},
		{"npm", []string{"lodash@4", "x", "lodash@3"}},
		{"npm", []string{"lodash", "x", "lodash@latest"}},
	} {
		_, err := Parse(c.installer, c.entries)
		var re *RequirementError
		if !errors.As(err, &re) || re.Index != 2 || !strings.Contains(re.Problem, "conflicts with requirements[0]") {
			t.Errorf("Parse(%s, %q) = %v; want entry 2 refused as conflicting with entry 0", c.installer, c.entries, err)
		}
	}
	// one package under two different markers is two requirements
	reqs, err := Parse("pip", []string{"pkg<2; python_version < '3.8'", "pkg>=2; python_version >= '3.8'"})
	if err != nil || len(reqs) != 2 {
		t.Errorf("Parse(markers) = %+v, %v; want both", reqs, err)
	}
}

func TestParseEmptyAndUnknownInstaller(t *testing.T) {
	if reqs, err := Parse("pip", nil); err != nil || len(reqs) != 0 {
		t.Errorf("Parse(pip, nil) = %+v, %v", reqs, err)
	}
	_, err := Parse("cargo", []string{"serde"})
	var re *RequirementError
	if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), `"cargo"`) {
		t.Errorf("Parse(cargo) = %v; want an error naming the installer", err)
	}
}

func TestSplitFile(t *testing.T) {
	body := "# the platform's requirements\r\n" +
		"numpy==1.24.0   # pinned\r\n" +
		"\n" +
		"   \t\n" +
		"scipy>=1.10,\\\n" +
		"  <2  \n" +
		"pkg#notacomment\n" +
		"--index-url https://evil.example/simple\n" +
		"-e ./local # editable\n" +
		"  # indented comment \\\n" +
		"requests[socks] \\\n" +
		"\t; python_version >= '3.8'\n" +
		"last\\"
	want := []string{
		"numpy==1.24.0",
		"scipy>=1.10,  <2",
		"pkg#notacomment",
		"--index-url https://evil.example/simple",
		"-e ./local",
		"requests[socks] \t; python_version >= '3.8'",
		"last",
	}
	if got := SplitFile(body); !reflect.DeepEqual(got, want) {
		t.Errorf("SplitFile =\n%q\nwant\n%q", got, want)
	}
	if got := SplitFile(""); len(got) != 0 {
		t.Errorf("SplitFile(\"\") = %q", got)
	}
	_, err := Parse("pip", SplitFile(body))
	var re *RequirementError
	if !errors.As(err, &re) || re.Index != 2 {
		t.Errorf("Parse(SplitFile) = %v; want entry 2 (pkg#notacomment) refused", err)
	}
}

// TestPipAgrees gives the normal forms to pip's own parser (its vendored
// packaging): each must be a requirement pip reads, under the same name.
func TestPipAgrees(t *testing.T) {
	var texts, names []string
	for _, c := range pipTaken {
		texts, names = append(texts, c.text), append(names, c.name)
	}
	in, _ := json.Marshal(texts)
	const script = `
import json, sys
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name
print(json.dumps([canonicalize_name(Requirement(t).name) for t in json.load(sys.stdin)]))
`
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pip's parser (needs /usr/bin/python3 with pip): %v", err)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("pip's parser said %q: %v", out, err)
	}
	if !reflect.DeepEqual(got, names) {
		t.Errorf("pip reads the names as %q, want %q", got, names)
	}
}

// FuzzParse checks that Parse never panics, and that what it takes is in
// a stable normal form through which nothing smuggles a second line, or
// an option into a requirements file.
func FuzzParse(f *testing.F) {
	for _, c := range pipTaken {
		f.Add("pip", c.entry)
	}
	for _, c := range pipRefused {
		f.Add("pip", c.entry)
	}
	for _, c := range npmTaken {
		f.Add("npm", c.entry)
	}
	for _, c := range npmRefused {
		f.Add("npm", c.entry)
	}
	f.Fuzz(func(t *testing.T, installer, entry string) {
		if installer != "pip" {
			installer = "npm"
		}
		reqs, err := Parse(installer, []string{entry})
		if err != nil {
			var re *RequirementError
			if !errors.As(err, &re) || re.Index != 0 || re.Entry != entry || re.Problem == "" {
				t.Fatalf("Parse(%q) = %v; want a *RequirementError naming it", entry, err)
			}
			return
		}
		if len(reqs) != 1 {
			t.Fatalf("Parse(%q) = %+v; want one requirement", entry, reqs)
		}
		r := reqs[0]
		// a marker's canonical spacing may lengthen an entry past the cap
		again, err := Parse(installer, []string{r.Text})
		if len(r.Text) <= MaxEntryBytes && (err != nil || !reflect.DeepEqual(again, reqs)) {
			t.Fatalf("Parse(%q) = %+v, but its text parses to %+v, %v", entry, r, again, err)
		}
		if r.Name == "" || !strings.HasPrefix(r.Text, r.Name) {
			t.Fatalf("Parse(%q) = %+v: text does not start with the name", entry, r)
		}
		for _, c := range r.Text {
			if c > unicode.MaxASCII || unicode.IsControl(c) || c == '#' || c == '$' || c == '\\' {
				t.Fatalf("Parse(%q) = %+v: %q in the text", entry, r, c)
			}
		}
		if installer != "pip" {
			return // npm gets each text as one argument
		}
		for _, tok := range strings.Fields(r.Text) {
			if strings.HasPrefix(tok, "-") {
				t.Fatalf("Parse(%q) = %+v: token %q reads as an option in a requirements file", entry, r, tok)
			}
		}
		if strings.ContainsAny(r.Text, "/@") {
			t.Fatalf("Parse(%q) = %+v: a path or a direct reference", entry, r)
		}
	})
}
