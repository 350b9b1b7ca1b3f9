package judge0_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/servicetest"
)

// runInfo runs TestSubmissions's subtests of languages, statuses and the informational endpoints.
func (s suite) runInfo(t *testing.T) {
	user := s.user
	t.Run("languages", func(t *testing.T) {
		t.Parallel()
		_, catalog := servicetest.Runner(t)
		r := user.do(t, "GET", "/languages", nil)
		r.expect(t, http.StatusOK, "")
		var list []map[string]any
		if err := json.Unmarshal(r.raw, &list); err != nil {
			t.Fatal(err)
		}
		names := map[float64]string{}
		var order []string
		for _, l := range list {
			raw, _ := json.Marshal(l)
			expectKeys(t, raw, []string{"id", "name"})
			names[l["id"].(float64)] = l["name"].(string)
			order = append(order, l["name"].(string))
		}
		if !slices.IsSorted(order) {
			t.Errorf("not sorted by name: %v", order)
		}
		for id, catalogID := range map[float64]string{71: "python", 63: "javascript", 50: "c", 54: "cpp", 52: "cpp", 62: "java", 60: "go", 46: "bash"} {
			l, err := catalog.Lookup(catalogID)
			if err != nil || l.Available() != nil {
				continue
			}
			if names[id] == "" {
				t.Errorf("language %d (%s) is installed but not listed: %s", int(id), catalogID, r.raw)
			}
		}
		if !strings.HasPrefix(names[54], "C++ (GCC ") || !strings.HasPrefix(names[71], "Python (") {
			t.Errorf("names: %v", names)
		}

		r = user.do(t, "GET", "/languages/all", nil)
		r.expect(t, http.StatusOK, "")
		var all []json.RawMessage
		json.Unmarshal(r.raw, &all)
		if len(all) != len(list) {
			t.Errorf("/languages/all has %d, /languages %d", len(all), len(list))
		}
		for _, l := range all {
			expectKeys(t, l, []string{"id", "name", "is_archived"})
			if decodeObj(t, l)["is_archived"] != false {
				t.Errorf("%s", l)
			}
		}

		r = user.do(t, "GET", "/languages/71", nil)
		r.expect(t, http.StatusOK, "")
		expectKeys(t, r.raw, []string{"id", "name", "is_archived", "source_file", "compile_cmd", "run_cmd"})
		if m := r.obj(t); m["id"] != json.Number("71") || m["name"] != names[71] || m["source_file"] != "script.py" || m["compile_cmd"] != nil || m["run_cmd"] == nil {
			t.Errorf("%s", r.raw)
		}
		if m := user.do(t, "GET", "/languages/50", nil).obj(t); m["source_file"] != "main.c" || m["compile_cmd"] == nil {
			t.Errorf("C: %v", m)
		}
		for _, path := range []string{"/languages/1234", "/languages/abc"} {
			if r := user.do(t, "GET", path, nil); r.code != http.StatusNotFound || len(r.raw) != 0 {
				t.Errorf("%s: %d %q", path, r.code, r.raw)
			}
		}
	})

	t.Run("information", func(t *testing.T) {
		t.Parallel()
		r := user.do(t, "GET", "/statuses", nil)
		r.expect(t, http.StatusOK, "")
		var statuses []map[string]any
		json.Unmarshal(r.raw, &statuses)
		if len(statuses) != 14 {
			t.Fatalf("%d statuses: %s", len(statuses), r.raw)
		}
		for i, s := range statuses {
			if s["id"] != float64(i+1) || s["description"] != judgeStatuses[i] {
				t.Errorf("status %d: %v", i+1, s)
			}
		}

		r = user.do(t, "GET", "/about", nil)
		r.expect(t, http.StatusOK, "")
		expectKeys(t, r.raw, []string{"version", "homepage", "source_code", "maintainer"})
		if r.obj(t)["version"] != "1.13.1" {
			t.Errorf("%s", r.raw)
		}
		if r := user.do(t, "GET", "/version", nil); r.code != http.StatusOK || string(r.raw) != "1.13.1" {
			t.Errorf("version: %d %q", r.code, r.raw)
		}

		r = user.do(t, "GET", "/config_info", nil)
		r.expect(t, http.StatusOK, "")
		expectKeys(t, r.raw, configKeys)
		for _, want := range []string{`"cpu_time_limit":5.0,`, `"max_cpu_time_limit":15.0,`, `"callbacks_timeout":5.0,`, `"memory_limit":128000,`, `"enable_submission_delete":true,`,
			`"max_submission_batch_size":20,`, `"max_extract_size":10240,`, `"allowed_languages_for_compile_options":[],`, `"enable_wait_result":true,`} {
			if !strings.Contains(string(r.raw), want) {
				t.Errorf("config_info lacks %s: %s", want, r.raw)
			}
		}

		r = user.do(t, "GET", "/system_info", nil)
		r.expect(t, http.StatusOK, "")
		if m := r.obj(t); m["CPU(s)"] == nil || m["Architecture"] == nil || m["Mem"] == nil {
			t.Errorf("%s", r.raw)
		}

		r = user.do(t, "GET", "/workers", nil)
		r.expect(t, http.StatusOK, "")
		var workers []json.RawMessage
		if json.Unmarshal(r.raw, &workers); len(workers) != 1 {
			t.Fatalf("%s", r.raw)
		}
		expectKeys(t, workers[0], []string{"queue", "size", "available", "idle", "working", "paused", "failed"})
		if m := decodeObj(t, workers[0]); m["queue"] != "1.13.1" || m["available"] != json.Number("3") {
			t.Errorf("%s", r.raw)
		}
	})
}
