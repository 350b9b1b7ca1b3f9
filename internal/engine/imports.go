package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// importer is how a check imports modules with a language's interpreter:
// the flag that runs a program given on the command line, and the
// program, which imports each module named in its arguments and, at the
// first that fails, prints its name and the error on two lines and
// exits 1.
type importer struct {
	flag    string
	program string
}

// importers are by installer: what a language installs, its interpreter
// imports.
var importers = map[string]*importer{
	"pip": {"-c", `import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as e:
        print(name)
        print("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
        sys.exit(1)
`},
	"npm": {"-e", `for (const name of process.argv.slice(1)) {
  try {
    require(name);
  } catch (e) {
    console.log(name);
    console.log(String(e && e.message).split('\n')[0]);
    process.exit(1);
  }
}
`},
}

// checkImports imports every module of nm's Check in a sandbox with the
// environment bound, as a job would; the first that fails is an error
// naming it and the environment.
func (e *Engine) checkImports(ctx context.Context, nm *named) error {
	if len(nm.Check) == 0 {
		return nil
	}
	imp := importers[nm.lang.Installer]
	spec := sandbox.Spec{
		Argv:   append([]string{nm.lang.Run[0], imp.flag, imp.program}, nm.Check...),
		Env:    slices.Clone(nm.lang.Env),
		Limits: nm.lang.MaxOver(e.policy.Max), // the heaviest import a job could afford
	}
	withEnv(&spec, nm.env)
	out, err := e.runner.Run(ctx, spec)
	if err != nil {
		return fmt.Errorf("environment %q: check: %w", nm.name, err)
	}
	if out.Status == airlock.StatusOK {
		return nil
	}
	module, problem, _ := strings.Cut(strings.TrimSpace(string(out.Stdout)), "\n")
	if module == "" || !slices.Contains(nm.Check, module) {
		return fmt.Errorf("environment %q: check: the imports of %s failed (%s: %s)", nm.name, strings.Join(nm.Check, ", "), out.Status, firstLine(out.Stderr))
	}
	return fmt.Errorf("environment %q: module %q does not import: %s", nm.name, module, problem)
}
