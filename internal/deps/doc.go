// Package deps makes the dependency environments of jobs: the packages a
// submission's requirements name, installed once and reused by every job
// that asks for the same ones.
//
// An environment is keyed by its content: the language, the interpreter's
// version, the normalised requirements and the installer's configuration
// (indexes, CA bundle). It is built by the language's own installer (pip
// with --target, npm) in a sandbox with every usual control, whose only
// way out is an allow-listing proxy to the configured package indexes
// (internal/egress). The result is an immutable directory in a cache
// under the data directory, with a size cap and least-recently-used
// eviction; a run binds it read-only and points the interpreter at it.
// Concurrent jobs that need one environment wait for one build; in a
// fleet a built environment also goes to the blob store, where other
// workers fetch it instead of building it again.
//
// Files:
//   - deps.go: Spec, Env and BuildError, the types the engine sees.
//   - requirements.go: Parse and SplitFile, checking requirement lists.
//   - requirements_pip.go, requirements_npm.go: one requirement of each
//     installer, checked and in normal form.
package deps
