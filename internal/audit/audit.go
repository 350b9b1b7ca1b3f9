// Package audit writes one JSON line per finished execution
// (docs/architecture.md, Audit and metrics):
// who, from where, which language, the sha256 of the code (never the code
// itself), how it ended and what it used.
package audit

import (
	"cmp"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/airlock-dev/airlock"
)

// Log appends audit lines to a writer; it is safe for concurrent use.
type Log struct {
	mu sync.Mutex
	w  io.Writer
}

// New writes to w (a file opened for append, or stdout).
func New(w io.Writer) *Log { return &Log{w: w} }

// Entry is one line.
type Entry struct {
	Time       time.Time      `json:"time"`
	JobID      string         `json:"job_id"`
	API        string         `json:"api"` // the face it came through: v1, judge0 or piston
	KeyID      string         `json:"key_id"`
	ClientAddr string         `json:"client_addr"`
	Language   string         `json:"language"`
	CodeSHA256 string         `json:"code_sha256"`
	Status     airlock.Status `json:"status"`
	Usage      airlock.Usage  `json:"usage"`
	DurationMS int64          `json:"duration_ms"`
	Attempts   int            `json:"attempts"`
}

// Write records a finished job.
func (l *Log) Write(j *airlock.Job, usage airlock.Usage) error {
	line, err := json.Marshal(Entry{
		Time: j.FinishedAt, JobID: j.ID, API: cmp.Or(j.Face, "v1"), KeyID: j.KeyID, ClientAddr: j.ClientAddr, Language: j.Language,
		CodeSHA256: j.CodeSHA256, Status: j.Status, Usage: usage,
		DurationMS: j.FinishedAt.Sub(j.CreatedAt).Milliseconds(), Attempts: j.Attempts,
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.w.Write(append(line, '\n'))
	return err
}
