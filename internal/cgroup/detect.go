package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// v1Controllers are the hierarchies a v1 sandbox needs.
var v1Controllers = []string{"memory", "pids", "cpu", "cpuacct"}

// Detect returns this process's own cgroup, under which airlock's subtree
// goes, on whichever version the host offers: it reads
// /proc/self/mountinfo and /proc/self/cgroup.
func Detect() (Group, error) { return detect("/") }

// detect is Detect on the filesystem rooted at root, so tests can lay out
// a fake /proc and /sys/fs/cgroup.
func detect(root string) (Group, error) {
	mi, err := os.ReadFile(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return nil, err
	}
	self, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return nil, err
	}
	return detectFrom(root, string(mi), string(self), func(dir string) string {
		b, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		return string(b)
	})
}

// detectFrom prefers a v2 mount with memory and pids controllers; a hybrid
// host's empty "unified" mount does not count. Mount points are taken
// below root. The root cgroup, a delegated subtree and a container's own
// cgroup namespace ("0::/") all come out as the directory of our path.
func detectFrom(root, mountinfo, selfCgroup string, controllersOf func(dir string) string) (Group, error) {
	paths := map[string]string{} // controller ("" for v2) → own path
	for _, line := range strings.Split(selfCgroup, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			paths[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			paths[c] = parts[2]
		}
	}
	v1dirs := map[string]string{}
	for _, line := range strings.Split(mountinfo, "\n") {
		// id parent maj:min root mountpoint opts ... - fstype source superopts
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		mnt, fstype := filepath.Join(root, f[4]), g[0]
		switch fstype {
		case "cgroup2":
			ctl := strings.Fields(controllersOf(mnt))
			if slices.Contains(ctl, "memory") && slices.Contains(ctl, "pids") {
				own := paths[""]
				if filepath.Base(own) == SupervisorLeaf {
					own = filepath.Dir(own) // we moved ourselves down earlier
				}
				return &v2{dir: filepath.Join(mnt, own)}, nil
			}
		case "cgroup":
			for _, opt := range strings.Split(g[2], ",") {
				if p, ok := paths[opt]; ok {
					v1dirs[opt] = filepath.Join(mnt, p)
				}
			}
		}
	}
	var missing []string
	for _, c := range v1Controllers {
		if _, ok := v1dirs[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no cgroup2 mount with memory and pids controllers, and no cgroup v1 hierarchy for %s", strings.Join(missing, ", "))
	}
	return &v1{memory: v1dirs["memory"], pids: v1dirs["pids"], cpu: v1dirs["cpu"], cpuacct: v1dirs["cpuacct"]}, nil
}
