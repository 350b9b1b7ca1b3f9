package native

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/cgroup"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// booted is a sandbox whose program has been started: its slot, keeper,
// cgroup and pipes until release.
type booted struct {
	r      *Runner
	sl     *slot
	k      *keeper
	cg     cgroup.Group
	pipes  *stdio
	egress *egressListener // nil: the run has no network
	lim    airlock.Limits
	merge  bool
}

// boot takes a slot, makes sure it has a keeper with spec's binds, opens
// the run's way out if spec has Egress, creates the run's cgroup and
// starts spec's program in it; withJob gives the program the job channel
// on sandbox.JobFD.
func (r *Runner) boot(spec sandbox.Spec, withJob bool) (_ *booted, err error) {
	if len(spec.Argv) == 0 {
		return nil, errors.New("empty argv")
	}
	bounds, err := collectBounds(spec.CollectBounds)
	if err != nil {
		return nil, err
	}
	b := &booted{r: r, lim: spec.Limits.WithDefaults(r.cfg.Defaults), merge: spec.MergeStderr}
	binds := append(append([]sandbox.Mount{}, r.cfg.Mounts...), spec.Mounts...)
	if b.sl, err = r.slots.acquire(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.release()
		}
	}()
	if b.k, err = r.keeperFor(b.sl, binds); err != nil {
		return nil, err
	}
	b.k.reportLimit = reportBound(bounds)
	if spec.Egress != nil {
		if b.egress, err = openEgress(b.k, spec.Egress); err != nil {
			return nil, err
		}
	}
	b.cg, err = r.cgroups.Create(fmt.Sprintf("slot-%d", b.sl.n), cgroup.Limits{
		MemoryBytes: b.lim.Memory,
		Pids:        b.lim.Pids,
		CPUQuota:    r.cfg.CPUQuota,
	})
	if err != nil {
		b.cg = nil
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	if b.pipes, err = newStdio(withJob); err != nil {
		return nil, err
	}
	dir := spec.Dir
	if dir == "" {
		dir = sandbox.WorkDir
	}
	req := &runRequest{
		Files:    spec.Files,
		TmpBytes: b.lim.TmpBytes,
		Argv:     spec.Argv,
		Env:      spec.Env,
		Dir:      dir,
		Rlimits:  rlimits(b.lim),
		Collect:  spec.Collect,
		Bounds:   bounds,
	}
	var tree *os.File
	if spec.Tree != nil && len(spec.Tree.Entries) > 0 {
		req.Tree, tree = toWire(spec.Tree.Entries), spec.Tree.Data()
	}
	if err := b.start(req, tree); err != nil {
		return nil, err
	}
	return b, nil
}

// keeperFor returns sl's keeper, started anew when it has none, died, or
// holds other binds.
func (r *Runner) keeperFor(sl *slot, binds []sandbox.Mount) (*keeper, error) {
	if sl.keeper != nil && (sl.keeper.gone() || !slices.Equal(sl.keeper.binds, binds)) {
		sl.keeper.close()
		r.slots.setKeeper(sl, nil)
	}
	if sl.keeper == nil {
		k, err := r.startKeeper(sl, binds)
		if err != nil {
			return nil, err
		}
		r.slots.setKeeper(sl, k)
	}
	return sl.keeper, nil
}

// start sends req with the program's ends of the pipes, the data of its
// Tree (if any) and the cgroup's files to the keeper, which forks the
// program.
func (b *booted) start(req *runRequest, tree *os.File) error {
	join, err := b.cg.OpenJoin()
	if err != nil {
		return err
	}
	defer closeFiles(join)
	program := b.pipes.programEnds(b.merge)
	req.Inherit = len(program)
	attached := program
	if tree != nil {
		attached = append(attached, tree)
	}
	fds := fdsOf(append(attached, join...))
	if err := b.k.start(req, fds); err != nil {
		return err
	}
	b.pipes.closeProgramEnds()
	return b.k.spawned()
}

// release gives back what boot took; the run, if any, has returned. A
// slot whose way out cannot be shut again loses its keeper, and with it
// its network namespace.
func (b *booted) release() {
	if b.egress != nil {
		if b.egress.close() != nil {
			b.k.broken = true
		}
		b.egress = nil
	}
	if b.pipes != nil {
		b.pipes.close()
	}
	if b.cg != nil {
		b.cg.Destroy()
	}
	if b.k != nil && b.k.broken {
		b.k.close()
		b.r.slots.setKeeper(b.sl, nil)
	}
	b.r.slots.release(b.sl)
}
