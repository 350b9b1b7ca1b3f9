package wire

import (
	"encoding/json"
	"testing"

	"github.com/airlock-dev/airlock"
)

// TestDependencyErrorResult: a job whose requirements could not be
// installed carries the installer's run as "dependencies", shaped like
// "compile"; other results have none.
func TestDependencyErrorResult(t *testing.T) {
	res := airlock.Result{
		Step:     airlock.Step{Status: airlock.StatusDependencyError, Message: "dependencies: no version of nosuch"},
		Language: "python",
		Dependencies: &airlock.Step{Status: airlock.StatusRuntimeError, ExitCode: 1,
			Stdout: []byte("Looking in indexes\n"), Stderr: []byte("ERROR: No matching distribution found for nosuch\n")},
	}
	data, err := json.Marshal(ResultOf(res))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Status       string          `json:"status"`
		Message      string          `json:"message"`
		Compile      json.RawMessage `json:"compile"`
		Dependencies map[string]any  `json:"dependencies"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	d := got.Dependencies
	if got.Status != "dependency_error" || got.Message != "dependencies: no version of nosuch" || got.Compile != nil ||
		d["status"] != "runtime_error" || d["exit_code"] != 1.0 || d["stdout"] != "Looking in indexes\n" ||
		d["stderr"] != "ERROR: No matching distribution found for nosuch\n" {
		t.Fatalf("%s", data)
	}
	data, _ = json.Marshal(ResultOf(airlock.Result{Step: airlock.Step{Status: airlock.StatusOK}}))
	var plain map[string]any
	if err := json.Unmarshal(data, &plain); err != nil || plain["dependencies"] != nil {
		t.Fatalf("a job without a failed build: %s", data)
	}
}
