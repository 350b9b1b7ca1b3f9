// Package native is the Linux sandbox backend: namespaces, pivot_root into
// a read-only root, a per-slot unprivileged uid, seccomp, rlimits and a
// cgroup per run (the cgroup and seccomp packages). One file per concern:
//
// The Runner's side:
//   - runner.go: Config, Runner and New, the checks and shared state.
//   - slots.go: the slots a run takes, their host uids and lock files.
//   - boot.go: a run's start: slot, keeper, cgroup, request to the keeper.
//   - stdio.go: a run's pipes and a prepared program's job channel.
//   - run.go: a started program to its end: input, signals, result.
//   - watch.go: wall time, CPU time and cancellation while it runs.
//   - output.go: stdout and stderr, capped at the output limit.
//   - status.go: how a run's end becomes its status (time_limit, ...).
//   - prepared.go: sandboxes started ahead of their job (Prepare).
//   - keeper.go: the handle on a slot's keeper, and how one is started.
//   - net.go: a run's way out (Spec.Egress): the proxy's listener inside
//     the slot's network namespace, and its loopback up, then down.
//
// Between them, protocol.go: the keeper protocol's messages and framing.
//
// Inside a slot:
//   - keeper_main.go: the keeper process, PID 1 of the slot's namespaces.
//   - users.go: the user namespace's ids.
//   - mounts.go: the slot's read-only root, /dev, /etc and /proc.
//   - box.go: each run's fresh writable /box, /tmp and /dev/shm.
//   - spawner.go: the confined thread that forks each program, and reaping.
//   - forkexec.go, vfork_*: the child between fork and exec.
//   - rlimits.go: the rlimits of the keeper and of each program.
//   - collect.go: the files a run leaves to be handed back.
//   - fds.go: descriptor helpers.
package native
