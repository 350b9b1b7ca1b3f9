package native

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/sandbox"
)

// argv[0] values that turn a re-executed airlock binary into a sandbox stage.
const (
	initArg0 = "airlock-sandbox-init" // PID 1 of the sandbox: builds the root, reaps
	execArg0 = "airlock-sandbox-exec" // PID 2: enters the user namespace, drops to the program
)

// File descriptors every stage finds in place.
const (
	configFD = 3 // parent → stage: JSON config
	statusFD = 4 // init → parent: JSON report
)

// initConfig is what the parent hands to the sandbox init process.
type initConfig struct {
	RootDir  string // empty host directory the new root is mounted on
	Binds    []sandbox.Mount
	Files    []sandbox.File
	TmpBytes int64
	UID, GID int // host ids of the program, unique to the slot
	Exec     execConfig
}

// execConfig is what init hands to the exec stage.
type execConfig struct {
	Argv    []string
	Env     []string
	Dir     string
	Rlimits []rlimit
	Seccomp []unix.SockFilter
}

type rlimit struct {
	Resource int
	Cur, Max uint64
}

// report is what init sends back to the parent.
type report struct {
	Error    string `json:"error,omitempty"`
	Exited   bool   `json:"exited"`
	ExitCode int    `json:"exit_code"`
	Signal   int    `json:"signal"`
}

func readConfig(v any) error {
	f := os.NewFile(configFD, "config")
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	return json.Unmarshal(data, v)
}
