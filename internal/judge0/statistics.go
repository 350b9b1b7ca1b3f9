package judge0

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/airlock-dev/airlock"
)

// statsCache is how long /statistics is answered from the cache, as in
// Judge0 (invalidate_cache=true refreshes it).
const statsCache = 10 * time.Minute

// statistics counts submissions of every face: Judge0 counts its whole
// database too. Statuses are counted by airlock status, named in Judge0's
// words (a runtime error counts as NZEC: the signal is not in the count).
func (s *Server) statistics(w http.ResponseWriter, r *http.Request) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	now := time.Now().UTC()
	if s.stats == nil || now.After(s.statsUntil) || r.URL.Query().Get("invalidate_cache") == "true" {
		body, err := s.countAll(r.Context(), now)
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		s.stats, s.statsUntil = body, now.Add(statsCache)
	}
	reply(w, http.StatusOK, s.stats)
}

// countAll renders the statistics of every submission as of now.
func (s *Server) countAll(ctx context.Context, now time.Time) ([]byte, error) {
	today := now.Truncate(24 * time.Hour)
	st, err := s.svc.Stats(ctx, today.AddDate(0, 0, -30))
	if err != nil {
		return nil, err
	}
	type named struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	type languageCount struct {
		Language named `json:"language"`
		Count    int   `json:"count"`
	}
	type statusCount struct {
		Status named `json:"status"`
		Count  int   `json:"count"`
	}
	byLanguage, byStatus := []languageCount{}, []statusCount{}
	for l, n := range st.ByLanguage {
		name := l
		if il, ok := s.languageByID(ctx, judge0ID(l)); ok {
			name = il.Name
		}
		byLanguage = append(byLanguage, languageCount{named{judge0ID(l), name}, n})
	}
	byID := map[int]int{}
	for status, n := range st.ByStatus {
		byID[statusOf(&airlock.Job{Status: status, Result: &airlock.Result{}}, nil).ID] += n
	}
	for id, n := range byID {
		byStatus = append(byStatus, statusCount{named{id, statuses[id-1].Description}, n})
	}
	sort.SliceStable(byLanguage, func(i, j int) bool { return byLanguage[i].Count > byLanguage[j].Count })
	sort.SliceStable(byStatus, func(i, j int) bool { return byStatus[i].Count > byStatus[j].Count })
	days := map[string]int{}
	var keys []string
	for d := range 30 {
		day := today.AddDate(0, 0, -30+d).Format("2006-01-02")
		days[day] = st.ByDay[day]
		keys = append(keys, day)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	var last30 strings.Builder
	last30.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			last30.WriteByte(',')
		}
		fmt.Fprintf(&last30, "%q:%d", k, days[k])
	}
	last30.WriteByte('}')
	type counts struct {
		Total      int             `json:"total"`
		Today      int             `json:"today"`
		Last30Days json.RawMessage `json:"last_30_days"`
	}
	type database struct {
		SizePretty  string `json:"size_pretty"`
		SizeInBytes int64  `json:"size_in_bytes"`
	}
	stamp := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.000-07:00") } // Rails' DateTime
	return json.Marshal(struct {
		CreatedAt   string          `json:"created_at"`
		CachedUntil string          `json:"cached_until"`
		Submissions counts          `json:"submissions"`
		Languages   []languageCount `json:"languages"`
		Statuses    []statusCount   `json:"statuses"`
		Database    database        `json:"database"`
	}{stamp(now), stamp(now.Add(statsCache)), counts{st.Total, st.ByDay[today.Format("2006-01-02")], json.RawMessage(last30.String())},
		byLanguage, byStatus, database{prettySize(st.DatabaseBytes), st.DatabaseBytes}})
}

// prettySize writes a size as PostgreSQL's pg_size_pretty, which Judge0's
// statistics show: bytes below 10240, else the largest unit that keeps the
// number (rounded half up) below 10240.
func prettySize(n int64) string {
	const limit = 10 * 1024
	if n < limit {
		return fmt.Sprintf("%d bytes", n)
	}
	half := n >> 9 // in halves of the unit, for the rounding
	units := []string{"kB", "MB", "GB", "TB"}
	for _, unit := range units[:len(units)-1] {
		if half < 2*limit-1 {
			return fmt.Sprintf("%d %s", (half+1)/2, unit)
		}
		half >>= 10
	}
	return fmt.Sprintf("%d %s", (half+1)/2, units[len(units)-1])
}
