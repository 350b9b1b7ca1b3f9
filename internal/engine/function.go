package engine

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// assets are the programs the engine puts in sandboxes: function-mode
// harnesses and warm-pool bootstraps.
//
//go:embed harness bootstrap
var assets embed.FS

// harnesses are the function-mode harnesses by language id.
var harnesses = map[string][]byte{
	"python":     mustRead("harness/python.py"),
	"javascript": mustRead("harness/javascript.js"),
}

func mustRead(name string) []byte {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

// Where function mode keeps its files in the work dir: a name no
// submission may use (see reserved).
const (
	harnessFile = ".airlock/harness"
	inputsFile  = ".airlock/inputs.json"
	resultFile  = ".airlock/result.json"
)

// withHarness turns a run spec into a function-mode one: the harness runs
// the user's file, inputs travel by file, the result comes back by file.
func withHarness(spec *sandbox.Spec, l *lang.Language, vars lang.Vars, inputs json.RawMessage) error {
	if len(bytes.TrimSpace(inputs)) == 0 {
		inputs = json.RawMessage("null")
	}
	if !json.Valid(inputs) {
		return invalid("inputs", "not valid JSON")
	}
	spec.Argv = lang.Expand(l.Function, vars)
	spec.Files = append(spec.Files,
		sandbox.File{Name: harnessFile, Content: harnesses[l.ID]},
		sandbox.File{Name: inputsFile, Content: inputs})
	spec.Collect = append(spec.Collect, resultFile)
	return nil
}

// judgeFunction reads the harness's result, at most max bytes like any
// output, into res.
func judgeFunction(res *airlock.Result, out sandbox.Result, max int64) {
	var got struct {
		Output json.RawMessage        `json:"output"`
		Error  *airlock.FunctionError `json:"error"`
	}
	raw, found, err := out.Tree.ReadFile(resultFile, max)
	switch {
	case errors.Is(err, sandbox.ErrTooBig):
		res.Status, res.Message = airlock.StatusOutputLimit, "the function's result exceeded the output limit"
		res.Error = &airlock.FunctionError{Type: string(res.Status), Message: res.Message}
	case err != nil:
		res.Status, res.Message = airlock.StatusRuntimeError, fmt.Sprintf("the function's result cannot be read: %v", err)
		res.Error = &airlock.FunctionError{Type: "BadResult", Message: res.Message}
	case !found && out.Status == airlock.StatusOK:
		res.Status = airlock.StatusRuntimeError
		res.Error = &airlock.FunctionError{Type: "NoResult", Message: "the program ended before calculate returned (did it exit?)"}
	case !found:
		res.Error = &airlock.FunctionError{Type: string(out.Status), Message: fmt.Sprintf("calculate did not finish: %s", describe(out))}
	case json.Unmarshal(raw, &got) != nil:
		res.Status = airlock.StatusRuntimeError
		res.Error = &airlock.FunctionError{Type: "BadResult", Message: "the harness result was overwritten with something that is not JSON"}
	case got.Error != nil:
		if res.Status == airlock.StatusOK {
			res.Status = airlock.StatusRuntimeError
		}
		res.Error = got.Error
	default:
		res.Output = got.Output
	}
}

func describe(out sandbox.Result) string {
	if out.Message != "" {
		return out.Message
	}
	if out.Signal != "" {
		return "killed by " + out.Signal
	}
	return fmt.Sprintf("exit code %d", out.ExitCode)
}
