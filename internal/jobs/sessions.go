package jobs

import (
	"sync"

	"github.com/airlock-dev/airlock/internal/engine"
)

// sessions are the live clients of jobs (an interactive API), which live
// in this process only, and the jobs of a fleet's sessions that run here
// outside the queue (see Service.accept).
type sessions struct {
	mu    sync.Mutex
	byJob map[string]*engine.Session
	// slots bounds the jobs run here as the workers bound the queue's.
	slots   chan struct{}
	running sync.WaitGroup // the jobs run here, which Run waits for as for its workers
}

func newSessions(slots int) *sessions {
	return &sessions{byJob: map[string]*engine.Session{}, slots: make(chan struct{}, slots)}
}

// attach gives a job its live client.
func (l *sessions) attach(id string, sess *engine.Session) {
	l.mu.Lock()
	l.byJob[id] = sess
	l.mu.Unlock()
}

// take removes and returns the live client of a job, if any.
func (l *sessions) take(id string) *engine.Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	sess := l.byJob[id]
	delete(l.byJob, id)
	return sess
}

// runHere runs a job in a goroutine of its own, as soon as a slot is
// free.
func (l *sessions) runHere(run func()) {
	l.running.Go(func() {
		l.slots <- struct{}{}
		defer func() { <-l.slots }()
		run()
	})
}

// wait waits for the jobs run here.
func (l *sessions) wait() { l.running.Wait() }
