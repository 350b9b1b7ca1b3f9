package cgroup

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const hybridMountinfo = `25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw
26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
`

const hybridSelf = "4:memory:/svc\n8:pids:/\n1:cpu,cpuacct:/\n0::/\n"

func TestDetectHybridIsV1(t *testing.T) {
	g, err := detectFrom("/", hybridMountinfo, hybridSelf, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := &v1{memory: "/sys/fs/cgroup/memory/svc", pids: "/sys/fs/cgroup/pids", cpu: "/sys/fs/cgroup/cpu,cpuacct", cpuacct: "/sys/fs/cgroup/cpu,cpuacct"}
	if got, ok := g.(*v1); !ok || *got != *want {
		t.Fatalf("got %#v", g)
	}
}

func TestDetectPureV2(t *testing.T) {
	mi := "30 1 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
	// cgroup.controllers ends in a newline; pids may come last.
	controllers := func(string) string { return "cpu memory pids\n" }
	for _, self := range []string{"0::/system.slice/airlock.service\n", "0::/system.slice/airlock.service/" + SupervisorLeaf + "\n"} {
		g, err := detectFrom("/", mi, self, controllers)
		if err != nil {
			t.Fatal(err)
		}
		if g.Version() != V2 || !slices.Equal(g.Paths(), []string{"/sys/fs/cgroup/system.slice/airlock.service"}) {
			t.Fatalf("%q: got %#v", self, g)
		}
	}
}

func TestDetectNothing(t *testing.T) {
	_, err := detectFrom("/", "25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", "0::/\n", func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("want an error naming the missing controllers, got %v", err)
	}
}

// TestDetectOnFakeFS reads /proc/self and cgroup.controllers below a fake
// root: a delegated v2 service, one that already moved into its
// supervisor leaf, the root cgroup or a container's own cgroup namespace
// (both "0::/"), and a hybrid v1 host.
func TestDetectOnFakeFS(t *testing.T) {
	for _, c := range []struct {
		name, mountinfo, self string
		files                 files
		mounts                []string
		want                  func(*fakeHost) Group
	}{
		{"v2 service", v2Mountinfo, "0::" + service + "\n",
			v2Files(false), []string{""},
			func(h *fakeHost) Group { return &v2{dir: h.path(filepath.Join(sysfs, service))} }},
		{"v2 supervisor leaf", v2Mountinfo, "0::" + service + "/" + SupervisorLeaf + "\n",
			v2Files(false), []string{""},
			func(h *fakeHost) Group { return &v2{dir: h.path(filepath.Join(sysfs, service))} }},
		{"v2 root or own namespace", v2Mountinfo, "0::/\n",
			v2Files(false), []string{""},
			func(h *fakeHost) Group { return &v2{dir: h.path(sysfs)} }},
		{"v1 hybrid", v1Mountinfo, v1Self,
			v1Files(false), v1Mounts,
			func(h *fakeHost) Group {
				cpu := h.path(filepath.Join(sysfs, "cpu,cpuacct", service))
				return &v1{memory: h.path(filepath.Join(sysfs, "memory", service)), pids: h.path(filepath.Join(sysfs, "pids", service)), cpu: cpu, cpuacct: cpu}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newFakeHost(t, c.mountinfo, c.self, c.files, c.mounts...)
			got, err := detect(h.root)
			if err != nil {
				t.Fatal(err)
			}
			want := c.want(h)
			if got.Version() != want.Version() || !slices.Equal(got.Paths(), want.Paths()) {
				t.Errorf("got v%d %v, want v%d %v", got.Version(), got.Paths(), want.Version(), want.Paths())
			}
		})
	}
}
