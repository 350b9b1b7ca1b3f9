package native

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/cgroup"
)

// killReason records the first limit that ended a run.
type killReason struct{ v atomic.Value }

func (k *killReason) set(s airlock.Status, msg string) {
	k.v.CompareAndSwap(nil, [2]string{string(s), msg})
}

func (k *killReason) get() (airlock.Status, string, bool) {
	v, ok := k.v.Load().([2]string)
	return airlock.Status(v[0]), v[1], ok
}

// keeperGrace is how long a keeper may take to report after its run was
// killed before it is deemed hung and killed too.
const keeperGrace = 5 * time.Second

// watch enforces wall time, CPU time summed over the cgroup since
// cpuBefore, and ctx. A
// kill repeats until the keeper reports: one that raced the fork found the
// group still empty.
func watch(ctx context.Context, done <-chan struct{}, lim airlock.Limits, cpuBefore time.Duration, cg cgroup.Group, reason *killReason, kill func(airlock.Status, string), k *keeper) {
	wall := time.NewTimer(lim.Wall)
	defer wall.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	cancelled := ctx.Done()
	var killedAt time.Time
	for {
		select {
		case <-done:
			return
		case <-cancelled:
			cancelled = nil
			kill(airlock.StatusCancelled, "cancelled")
		case <-wall.C:
			kill(airlock.StatusTimeLimit, "wall time limit exceeded")
		case now := <-tick.C:
			_, _, killed := reason.get()
			switch {
			case killed && killedAt.IsZero():
				killedAt = now
			case killed && now.Sub(killedAt) > keeperGrace:
				k.proc.Kill()
			case killed:
				cg.Kill()
			default:
				if cpu, err := cg.CPU(); err == nil && cpu-cpuBefore > lim.CPU {
					kill(airlock.StatusTimeLimit, "CPU time limit exceeded")
				}
			}
		}
	}
}
