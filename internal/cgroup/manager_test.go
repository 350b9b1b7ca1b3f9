package cgroup

import "testing"

// TestManagerOnFakeFS: on either version, Create replaces a stale group
// (limits reset), Open reuses a group without resetting it, Groups lists
// them, Remove deletes them and tolerates one that is gone.
func TestManagerOnFakeFS(t *testing.T) {
	for _, v := range []struct {
		name    string
		host    func(*testing.T, bool) (*fakeHost, *Manager)
		pidsDir func(Group) string // the directory of the pids controller
	}{
		{"v1", v1Host, func(g Group) string { return g.(*v1).pids }},
		{"v2", v2Host, func(g Group) string { return g.(*v2).dir }},
	} {
		t.Run(v.name, func(t *testing.T) {
			_, m := v.host(t, false)
			pidsMax := func(g Group) string { return get(t, v.pidsDir(g), "pids.max") }
			g, err := m.Create("slot-1", Limits{Pids: 10})
			if err != nil {
				t.Fatal(err)
			}
			if got := pidsMax(g); got != "10" {
				t.Fatalf("pids.max %q", got)
			}
			// A crashed airlock left slot-1: Create starts it afresh.
			g, err = m.Create("slot-1", Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := pidsMax(g); got != "max\n" {
				t.Errorf("stale group's limit kept: pids.max %q", got)
			}
			k, err := m.Open("keepers")
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Tighten(Limits{Pids: 99}); err != nil {
				t.Fatal(err)
			}
			if k, err = m.Open("keepers"); err != nil {
				t.Fatal(err)
			}
			if got := pidsMax(k); got != "99" {
				t.Errorf("Open reset the group: pids.max %q", got)
			}
			ids, err := m.Groups()
			if err != nil || !sameSet(ids, []string{"slot-1", "keepers"}) {
				t.Errorf("Groups %v, %v", ids, err)
			}
			for _, id := range []string{"slot-1", "slot-1", "keepers"} {
				if err := m.Remove(id); err != nil {
					t.Errorf("Remove %s: %v", id, err)
				}
			}
			gone(t, g)
			gone(t, k)
			if ids, err := m.Groups(); err != nil || len(ids) != 0 {
				t.Errorf("Groups after Remove %v, %v", ids, err)
			}
		})
	}
}
