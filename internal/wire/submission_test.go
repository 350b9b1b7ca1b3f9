package wire

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
)

// TestSubmissionJSON: the native API's request decodes into its fields,
// and "expected_output" absent stays apart from empty.
func TestSubmissionJSON(t *testing.T) {
	var s Submission
	body := `{"language":"c","files":[{"name":"main.c","content":"aW50IG1haW4oKXt9","encoding":"base64"}],"limits":{"wall_ms":1500,"memory_mb":64,"network":"none"},"expected_output":""}`
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	files, err := s.DecodeFiles()
	if err != nil || len(files) != 1 || files[0].Name != "main.c" || string(files[0].Content) != "int main(){}" {
		t.Fatalf("files %+v, %v", files, err)
	}
	lim, err := s.Limits.Decode()
	if want := (airlock.Limits{Wall: 1500 * time.Millisecond, Memory: 64 << 20}); err != nil || lim != want {
		t.Fatalf("limits %+v, %v; want %+v", lim, err, want)
	}
	if out := s.ExpectedOutputBytes(); out == nil || len(out) != 0 {
		t.Errorf("empty expected_output became %q", out)
	}
	if out := (&Submission{}).ExpectedOutputBytes(); out != nil {
		t.Errorf("absent expected_output became %q", out)
	}
}

// TestSubmissionFieldErrors: what does not decode names its field.
func TestSubmissionFieldErrors(t *testing.T) {
	for field, decode := range map[string]func() error{
		"files[0].content": func() error { _, err := (&Submission{Files: []File{{Content: "\xff"}}}).DecodeFiles(); return err },
		"files[1].content": func() error {
			_, err := (&Submission{Files: []File{{}, {Content: "!!", Encoding: "base64"}}}).DecodeFiles()
			return err
		},
		"files[0].encoding": func() error { _, err := (&Submission{Files: []File{{Encoding: "hex"}}}).DecodeFiles(); return err },
		"limits.pids":       func() error { _, err := (&Limits{Pids: -1}).Decode(); return err },
		"limits.memory_mb":  func() error { _, err := (&Limits{MemoryMB: 1 << 50}).Decode(); return err },
		"limits.wall_ms":    func() error { _, err := (&Limits{WallMillis: 1 << 62}).Decode(); return err },
	} {
		var bad *FieldError
		if err := decode(); !errors.As(err, &bad) || bad.Field != field {
			t.Errorf("%s: got %v", field, err)
		}
	}
}

// TestDecodeRequirements: a list of strings, or one string with a
// requirements file's text; anything else names the field.
func TestDecodeRequirements(t *testing.T) {
	for body, want := range map[string][]string{
		``:                           nil,
		`null`:                       nil,
		`[]`:                         {},
		`["numpy==1.24.0", "scipy"]`: {"numpy==1.24.0", "scipy"},
		`"numpy==1.24.0\r\n# comment\n\nscipy>=1.10 \\\n  ,<2\n"`: {"numpy==1.24.0", "scipy>=1.10   ,<2"},
		`"lodash@4.17.21"`: {"lodash@4.17.21"},
	} {
		got, err := (&Submission{Requirements: json.RawMessage(body)}).DecodeRequirements()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %q %v, want %q", body, got, err, want)
		}
	}
	for body, field := range map[string]string{
		`{"numpy": "1"}`:   "requirements",
		`true`:             "requirements",
		`12`:               "requirements",
		`["numpy", null]`:  "requirements[1]",
		`["numpy", ["x"]]`: "requirements[1]",
		`[{"name": "x"}]`:  "requirements[0]",
	} {
		var bad *FieldError
		if _, err := (&Submission{Requirements: json.RawMessage(body)}).DecodeRequirements(); !errors.As(err, &bad) || bad.Field != field {
			t.Errorf("%s: got %v, want a FieldError for %s", body, err, field)
		}
	}
}
