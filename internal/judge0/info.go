package judge0

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/airlock-dev/airlock"
)

// statuses is GET /statuses: Judge0's table.
func (s *Server) statuses(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, statuses) }

// about is GET /about.
func (s *Server) about(w http.ResponseWriter, _ *http.Request) {
	reply(w, http.StatusOK, struct {
		Version    string `json:"version"`
		Homepage   string `json:"homepage"`
		SourceCode string `json:"source_code"`
		Maintainer string `json:"maintainer"`
	}{Version, "https://github.com/airlock-dev/airlock", "https://github.com/airlock-dev/airlock", "airlock (Judge0 CE " + Version + " compatible API)"})
}

// version is GET /version, as plain text.
func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, Version)
}

// configInfo reports the settings in Judge0's keys and order.
// The limits are the server's (a key may have lower maxima).
func (s *Server) configInfo(w http.ResponseWriter, _ *http.Request) {
	type kv struct {
		k string
		v any
	}
	lim := boundsOf(s.opt.Engine.Policy(airlock.Policy{}))
	settings := []kv{
		{"maintenance_mode", false}, {"enable_wait_result", true}, {"enable_compiler_options", true},
		{"allowed_languages_for_compile_options", []string{}}, {"enable_command_line_arguments", true},
		{"enable_submission_delete", s.opt.EnableDelete}, {"enable_callbacks", true}, {"callbacks_max_tries", 3},
		{"callbacks_timeout", callbackTimeout.Seconds()}, {"enable_additional_files", true}, {"max_queue_size", s.opt.MaxQueue},
		{"cpu_time_limit", lim.cpu.def}, {"max_cpu_time_limit", lim.cpu.max}, {"cpu_extra_time", lim.extra.def},
		{"max_cpu_extra_time", lim.extra.max}, {"wall_time_limit", lim.wall.def}, {"max_wall_time_limit", lim.wall.max},
		{"memory_limit", int(lim.memoryKB.def)}, {"max_memory_limit", int(lim.memoryKB.max)}, {"stack_limit", int(lim.stackKB.def)},
		{"max_stack_limit", int(lim.stackKB.max)}, {"max_processes_and_or_threads", int(lim.processes.def)},
		{"max_max_processes_and_or_threads", int(lim.processes.max)}, {"enable_per_process_and_thread_time_limit", false},
		{"allow_enable_per_process_and_thread_time_limit", false}, {"enable_per_process_and_thread_memory_limit", false},
		{"allow_enable_per_process_and_thread_memory_limit", false}, {"max_file_size", int(lim.fileKB.def)},
		{"max_max_file_size", int(lim.fileKB.max)}, {"number_of_runs", 1}, {"max_number_of_runs", maxRuns},
		{"redirect_stderr_to_stdout", false}, {"max_extract_size", maxExtractKB}, {"enable_batched_submissions", true},
		{"max_submission_batch_size", maxBatch}, {"submission_cache_duration", 0.0}, {"use_docs_as_homepage", false},
		{"allow_enable_network", false}, {"enable_network", false},
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range settings {
		if i > 0 {
			b.WriteByte(',')
		}
		v, _ := json.Marshal(s.v)
		if f, ok := s.v.(float64); ok {
			v = []byte(decimal(f)) // Ruby floats print as 5.0
		}
		fmt.Fprintf(&b, "%q:%s", s.k, v)
	}
	b.WriteByte('}')
	reply(w, http.StatusOK, []byte(b.String()))
}

// systemInfo gives lscpu's and free's main lines, as Judge0 does.
func (s *Server) systemInfo(w http.ResponseWriter, _ *http.Request) {
	info := map[string]string{"Architecture": runtime.GOARCH, "CPU(s)": strconv.Itoa(runtime.NumCPU())}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				info["Model name"] = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var name string
			var kb int64
			if _, err := fmt.Sscanf(sc.Text(), "%s %d kB", &name, &kb); err != nil {
				continue
			}
			switch name {
			case "MemTotal:":
				info["Mem"] = fmt.Sprintf("%.1fGi", float64(kb)/(1<<20))
			case "SwapTotal:":
				info["Swap"] = fmt.Sprintf("%.1fGi", float64(kb)/(1<<20))
			}
		}
		f.Close()
	}
	reply(w, http.StatusOK, info)
}

// workers is GET /workers: one queue with this process's workers.
func (s *Server) workers(w http.ResponseWriter, r *http.Request) {
	waiting, err := s.svc.QueueLen(r.Context())
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	total, busy := s.svc.Workers()
	type queue struct {
		Queue     string `json:"queue"`
		Size      int    `json:"size"`
		Available int    `json:"available"`
		Idle      int    `json:"idle"`
		Working   int    `json:"working"`
		Paused    int    `json:"paused"`
		Failed    int    `json:"failed"`
	}
	reply(w, http.StatusOK, []queue{{Version, waiting, total, total - busy, busy, 0, 0}})
}
