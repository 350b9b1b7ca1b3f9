package piston_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/api"
	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/piston"
	"github.com/airlock-dev/airlock/internal/sandbox/native"
	"github.com/airlock-dev/airlock/internal/servicetest"
)

func TestMain(m *testing.M) {
	native.Stage()
	code := m.Run()
	servicetest.Close()
	os.Exit(code)
}

// server starts a service for one test and its subtests.
func server(t *testing.T) string {
	return servicetest.Start(t, servicetest.Options{Jobs: jobs.Options{Workers: 2}}).URL
}

type stage struct {
	Stdout   string   `json:"stdout"`
	Stderr   string   `json:"stderr"`
	Output   string   `json:"output"`
	Code     *int     `json:"code"`
	Signal   *string  `json:"signal"`
	Message  *string  `json:"message"`
	Status   *string  `json:"status"`
	CPUTime  *float64 `json:"cpu_time"`
	WallTime *float64 `json:"wall_time"`
	Memory   *int64   `json:"memory"`
}

type result struct {
	Language string `json:"language"`
	Version  string `json:"version"`
	Compile  *stage `json:"compile"`
	Run      *stage `json:"run"`
	Message  string `json:"message"`
}

func post(t *testing.T, url, contentType, body string, headers ...string) (int, result, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/api/v2/execute", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var res result
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("%d %q: %v", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, res, string(raw)
}

func execute(t *testing.T, url, body string) result {
	t.Helper()
	code, res, raw := post(t, url, "application/json", body)
	if code != 200 {
		t.Fatalf("execute: %d %s", code, raw)
	}
	return res
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

func num(p *int) string {
	if p == nil {
		return "<null>"
	}
	return fmt.Sprint(*p)
}

// keys lists the keys of raw's object field, in order.
func keys(raw, field string) []string {
	var outer map[string]json.RawMessage
	json.Unmarshal([]byte(raw), &outer)
	dec := json.NewDecoder(bytes.NewReader(outer[field]))
	dec.Token()
	var out []string
	for dec.More() {
		k, _ := dec.Token()
		out = append(out, fmt.Sprint(k))
		var value json.RawMessage
		dec.Decode(&value)
	}
	return out
}

func TestRuntimes(t *testing.T) {
	resp, err := http.Get(server(t) + "/api/v2/runtimes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	byName := map[string]map[string]any{}
	for _, rt := range list {
		if _, ok := rt["aliases"].([]any); !ok || rt["version"] == "" {
			t.Errorf("runtime without aliases or version: %v", rt)
		}
		byName[rt["language"].(string)] = rt
	}
	for _, name := range []string{"python", "javascript", "c", "c++", "java", "go", "bash"} {
		if byName[name] == nil {
			t.Errorf("no %s runtime in %v", name, list)
		}
	}
	if js := byName["javascript"]; js == nil || js["runtime"] != "node" || fmt.Sprint(js["aliases"]) != "[node-javascript node-js javascript js]" {
		t.Errorf("javascript runtime: %v", js)
	}
	if cpp := byName["c++"]; cpp == nil || cpp["runtime"] != "gcc" || fmt.Sprint(cpp["aliases"]) != "[cpp g++]" {
		t.Errorf("c++ runtime: %v", cpp)
	}
	if py := byName["python"]; py != nil {
		minor := strings.Join(strings.Split(py["version"].(string), ".")[:2], ".")
		if _, ok := py["runtime"]; ok || fmt.Sprint(py["aliases"]) != "[py py3 python3 python"+minor+"]" {
			t.Errorf("python runtime: %v", py)
		}
	}
}

func TestExecute(t *testing.T) {
	url := server(t)
	t.Run("python stdin and args", func(t *testing.T) {
		t.Parallel()
		code, res, raw := post(t, url, "application/json", `{"language":"py","version":"3.x","files":[{"content":"import sys\nprint(input(), sys.argv[1:])"}],"stdin":"hi","args":["a",1]}`)
		if code != 200 || res.Language != "python" || res.Compile != nil || res.Run.Stdout != "hi ['a', '1']\n" || num(res.Run.Code) != "0" ||
			res.Run.Status != nil || res.Run.Signal != nil || res.Run.Message != nil || res.Run.CPUTime == nil || res.Run.Memory == nil || *res.Run.Memory <= 0 || *res.Run.Memory%1000 != 0 { // isolate's KB × 1000, as Piston
			t.Fatalf("%d %s", code, raw)
		}
		if got := strings.Join(keys(raw, "run"), " "); got != "signal stdout stderr code output memory message status cpu_time wall_time" {
			t.Errorf("run's keys: %s", got)
		}
	})
	t.Run("version ranges", func(t *testing.T) {
		t.Parallel()
		for _, v := range []string{"*", "3", "^3.9", ">=3.8 <4"} {
			if res := execute(t, url, `{"language":"python","version":"`+v+`","files":[{"content":"print(7)"}]}`); res.Run.Stdout != "7\n" {
				t.Errorf("version %q: %+v", v, res.Run)
			}
		}
	})
	t.Run("stdin gets a final newline", func(t *testing.T) {
		t.Parallel()
		res := execute(t, url, `{"language":"python","version":"*","files":[{"content":"import sys\nprint(repr(sys.stdin.read()))"}],"stdin":"x"}`)
		if res.Run.Stdout != "'x\\n'\n" {
			t.Fatalf("stdout %q", res.Run.Stdout)
		}
	})
	t.Run("output keeps the order of both streams", func(t *testing.T) {
		t.Parallel()
		// Each write waits until the service has taken the one before out of
		// its pipe: two pipes carry no order of their own, so a sleep alone
		// loses it when a loaded host runs the service late.
		res := execute(t, url, `{"language":"python","version":"*","files":[{"content":"import fcntl, struct, sys, termios, time\ndef drained(fd):\n  while struct.unpack('i', fcntl.ioctl(fd, termios.FIONREAD, b'0000'))[0]:\n    time.sleep(0.005)\n  time.sleep(0.05)\nfor i in range(3):\n  print(i, flush=True)\n  drained(1)\n  print('e', i, file=sys.stderr, flush=True)\n  drained(2)"}]}`)
		if res.Run.Output != "0\ne 0\n1\ne 1\n2\ne 2\n" || res.Run.Stdout != "0\n1\n2\n" || res.Run.Stderr != "e 0\ne 1\ne 2\n" {
			t.Fatalf("%+v", res.Run)
		}
	})
	t.Run("c compiles then runs", func(t *testing.T) {
		t.Parallel()
		res := execute(t, url, `{"language":"c","version":"*","files":[{"content":"#include <stdio.h>\nint main(){puts(\"c ok\");return 4;}"}]}`)
		if res.Compile == nil || num(res.Compile.Code) != "0" || res.Run.Stdout != "c ok\n" || num(res.Run.Code) != "4" ||
			str(res.Run.Status) != "RE" || str(res.Run.Message) != "Exited with error status 4" {
			t.Fatalf("compile %+v run %+v", res.Compile, res.Run)
		}
	})
	t.Run("compile error: run is the compile stage", func(t *testing.T) {
		t.Parallel()
		for language, name := range map[string]string{"c": "", "c++": "x.cpp"} {
			code, res, raw := post(t, url, "application/json", `{"language":"`+language+`","version":"*","files":[{"name":"`+name+`","content":"int main(){ return y; }"}]}`)
			if code != 200 || res.Compile == nil || res.Compile.Code == nil || *res.Compile.Code == 0 || str(res.Compile.Status) != "RE" ||
				!strings.Contains(res.Compile.Stderr, "undeclared") && !strings.Contains(res.Compile.Stderr, "was not declared") ||
				!reflect.DeepEqual(res.Run, res.Compile) {
				t.Errorf("%s: %d %s", language, code, raw)
			}
		}
	})
	t.Run("signal", func(t *testing.T) {
		t.Parallel()
		res := execute(t, url, `{"language":"c","version":"*","files":[{"content":"int main(){int *p=0;return *p;}"}]}`)
		if str(res.Run.Status) != "SG" || str(res.Run.Signal) != "SIGSEGV" || res.Run.Code != nil || str(res.Run.Message) != "Caught fatal signal 11" {
			t.Fatalf("%+v", res.Run)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		res := execute(t, url, `{"language":"python","version":"*","files":[{"content":"while True: pass"}],"run_timeout":3000,"run_cpu_time":300}`)
		if str(res.Run.Status) != "TO" || str(res.Run.Signal) != "SIGKILL" || res.Run.Code != nil || str(res.Run.Message) != "Time limit exceeded" {
			t.Fatalf("%+v", res.Run)
		}
		res = execute(t, url, `{"language":"python","version":"*","files":[{"content":"import time\ntime.sleep(5)"}],"run_timeout":300}`)
		if str(res.Run.Status) != "TO" || str(res.Run.Signal) != "SIGKILL" || str(res.Run.Message) != "Time limit exceeded (wall clock)" {
			t.Fatalf("%+v", res.Run)
		}
	})
	t.Run("output limits", func(t *testing.T) {
		t.Parallel()
		for stream, want := range map[string]string{"stdout": "OL stdout length exceeded", "stderr": "EL stderr length exceeded"} {
			res := execute(t, url, `{"language":"python","version":"*","files":[{"content":"import sys\nsys.`+stream+`.write('x' * (8 << 20))"}]}`)
			if str(res.Run.Status)+" "+str(res.Run.Message) != want || str(res.Run.Signal) != "SIGKILL" || res.Run.Code != nil {
				t.Errorf("%s: %s %s %s %s", stream, str(res.Run.Status), str(res.Run.Message), str(res.Run.Signal), num(res.Run.Code))
			}
		}
	})
	t.Run("memory limit", func(t *testing.T) {
		t.Parallel()
		res := execute(t, url, `{"language":"python","version":"*","files":[{"content":"b = b'x' * (300 << 20)"}],"run_memory_limit":64000000}`)
		if str(res.Run.Status) != "SG" || str(res.Run.Signal) != "SIGKILL" || res.Run.Code != nil || *res.Run.Memory > 64000000 {
			t.Fatalf("%+v %s %s", res.Run, str(res.Run.Status), str(res.Run.Message))
		}
	})
	t.Run("encodings and several files", func(t *testing.T) {
		t.Parallel()
		helper := base64.StdEncoding.EncodeToString([]byte("def greet():\n    return 'from b64'\n"))
		data := hex.EncodeToString([]byte("hex data"))
		res := execute(t, url, `{"language":"python","version":"*","files":[
			{"name":"main.py","content":"import helper\nprint(helper.greet(), open('data.txt').read())"},
			{"name":"helper.py","content":"`+helper+`","encoding":"base64"},
			{"name":"data.txt","content":"`+data+`","encoding":"hex"}]}`)
		if res.Run.Stdout != "from b64 hex data\n" {
			t.Fatalf("%+v", res.Run)
		}
	})
	t.Run("the first utf8 file runs; names are joined under the directory", func(t *testing.T) {
		t.Parallel()
		data := base64.StdEncoding.EncodeToString([]byte("data"))
		res := execute(t, url, `{"language":"python","version":"*","files":[
			{"name":"data.bin","content":"`+data+`","encoding":"base64"},
			{"content":"import lib\nprint(lib.x, open('data.bin').read())"},
			{"name":"/lib.py","content":"x = 7"}]}`)
		if res.Run.Stdout != "7 data\n" {
			t.Fatalf("%+v", res.Run)
		}
	})
	t.Run("unnamed file of a compiled language", func(t *testing.T) {
		t.Parallel()
		res := execute(t, url, `{"language":"java","version":"*","files":[{"content":"public class Main { public static void main(String[] a) { System.out.println(\"java ok\"); } }"}]}`)
		if res.Run.Stdout != "java ok\n" {
			t.Fatalf("compile %+v run %+v", res.Compile, res.Run)
		}
	})
	t.Run("memory limit -1 is the default", func(t *testing.T) {
		t.Parallel()
		res := execute(t, url, `{"language":"python","version":"*","files":[{"content":"print(1)"}],"run_memory_limit":-1,"compile_memory_limit":-1}`)
		if res.Run.Stdout != "1\n" {
			t.Fatalf("%+v", res.Run)
		}
	})
}

func TestBadRequests(t *testing.T) {
	url := server(t)
	hello := `"files":[{"content":"print(1)"}]`
	cases := []struct {
		name, body, message string
	}{
		{"no language", `{"version":"*",` + hello + `}`, "language is required as a string"},
		{"language not a string", `{"language":3,"version":"*",` + hello + `}`, "language is required as a string"},
		{"no version", `{"language":"python",` + hello + `}`, "version is required as a string"},
		{"no files", `{"language":"python","version":"*"}`, "files is required as an array"},
		{"files not an array", `{"language":"python","version":"*","files":"x"}`, "files is required as an array"},
		{"content not a string", `{"language":"python","version":"*","files":[{"content":"a"},{"content":1}]}`, "files[1].content is required as a string"},
		{"unknown language", `{"language":"cobol","version":"*",` + hello + `}`, "cobol-* runtime is unknown"},
		{"version out of range", `{"language":"python","version":"2.x",` + hello + `}`, "python-2.x runtime is unknown"},
		{"no utf8 file", `{"language":"python","version":"*","files":[{"content":"cHJpbnQoMSk=","encoding":"base64"}]}`, "files must include at least one utf8 encoded file"},
		{"limit not a number", `{"language":"python","version":"*",` + hello + `,"run_timeout":"5"}`, "If specified, run_timeout must be a number"},
		{"limit above the maximum", `{"language":"python","version":"*",` + hello + `,"compile_memory_limit":99999999999999}`, "compile_memory_limit cannot exceed the configured limit of 2147483648"},
		{"negative timeout", `{"language":"python","version":"*",` + hello + `,"run_cpu_time":-5}`, "run_cpu_time must be non-negative"},
		{"escaping name", `{"language":"python","version":"*","files":[{"name":"../x.py","content":"print(1)"}]}`, `File path "../x.py" tries to escape parent directory: ../x.py`},
		{"file not an object", `{"language":"python","version":"*","files":["print(1)"]}`, "files[0].content is required as a string"},
		{"unknown encoding only", `{"language":"python","version":"*","files":[{"content":"print(1)","encoding":"latin1"}]}`, "files must include at least one utf8 encoded file"},
		{"name not a string", `{"language":"python","version":"*","files":[{"name":["a"],"content":"print(1)"}]}`, "files[0].name must be a string"},
		{"escaping through a directory", `{"language":"python","version":"*","files":[{"content":"print(1)"},{"name":"/a/../../x","content":""}]}`, `File path "/a/../../x" tries to escape parent directory: ../x`},
		{"name that Piston takes for escaping", `{"language":"python","version":"*","files":[{"content":"print(1)"},{"name":"..x","content":""}]}`, `File path "..x" tries to escape parent directory: ..x`},
		{"name of the directory", `{"language":"python","version":"*","files":[{"content":"print(1)"},{"name":"/","content":""}]}`, `File path "/" names no file`},
		{"stdin not a string", `{"language":"python","version":"*",` + hello + `,"stdin":5}`, "stdin must be a string"},
		{"args not an array", `{"language":"python","version":"*",` + hello + `,"args":"a b"}`, "args must be an array"},
		{"bad base64", `{"language":"python","version":"*","files":[{"content":"print(1)"},{"name":"b","content":"!!","encoding":"base64"}]}`, "files[1].content is not valid base64"},
	}
	for _, c := range cases {
		code, res, raw := post(t, url, "application/json", c.body)
		if code != 400 || res.Message != c.message {
			t.Errorf("%s: %d %s, want 400 %q", c.name, code, raw, c.message)
		}
	}
	big := `{"language":"python","version":"*","files":[{"content":"#` + strings.Repeat("x", 300<<10) + `"}]}`
	if code, res, _ := post(t, url, "application/json", big); code != 413 || !strings.Contains(res.Message, "bytes of code, at most 262144 allowed") {
		t.Errorf("code over the limit: %d %+v", code, res)
	}
	if code, _, raw := post(t, url, "application/json", `{"language":`); code != 400 || !strings.Contains(raw, `"stack":"SyntaxError: `) || !strings.Contains(raw, `"message":"malformed JSON`) {
		t.Errorf("malformed JSON: %d %s", code, raw)
	}
	if code, res, _ := post(t, url, "application/x-www-form-urlencoded", `{}`); code != 415 || res.Message != "requests must be of type application/json" {
		t.Errorf("form body: %d %+v", code, res)
	}
	if code, res, raw := post(t, url, "text/plain;charset=UTF-8", `{"language":"python","version":"*",`+hello+`}`); code != 200 || res.Run.Stdout != "1\n" {
		t.Errorf("text/plain JSON: %d %s", code, raw)
	}
	// Piston's banner is at / for API clients (browsers get the playground).
	for path, want := range map[string]string{"/": "Piston v3.1.1", "/api/v2": "Not Found", "/api/v2/": "Not Found", "/api/v2/nothing": "Not Found"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if body.Message != want {
			t.Errorf("GET %s: %d %q, want %q", path, resp.StatusCode, body.Message, want)
		}
	}
}

// TestKeys: the faces share keys; a Piston client sends them as a header.
func TestKeys(t *testing.T) {
	env := servicetest.Start(t, servicetest.Options{API: api.Options{Keys: []auth.Key{{ID: "k", SHA256: auth.HashToken("secret")}}}})
	body := `{"language":"python","version":"*","files":[{"content":"print(1)"}]}`
	if code, res, _ := post(t, env.URL, "application/json", body); code != 401 || res.Message == "" {
		t.Fatalf("no key: %d %+v", code, res)
	}
	if code, res, raw := post(t, env.URL, "application/json", body, "Authorization", "Bearer secret"); code != 200 || res.Run.Stdout != "1\n" {
		t.Fatalf("with key: %d %s", code, raw)
	}
	if code, res, raw := post(t, env.URL, "application/json", body, "X-Auth-Token", "secret"); code != 200 || res.Run.Stdout != "1\n" {
		t.Fatalf("with X-Auth-Token: %d %s", code, raw)
	}
	if code, res, _ := post(t, env.URL, "application/json", body, "X-Auth-Token", "wrong"); code != 401 || res.Message != "unknown API key" {
		t.Fatalf("wrong key: %d %+v", code, res)
	}
}

// TestRefusals: a key over its rate gets 429, a full queue 503, each with
// a message.
func TestRefusals(t *testing.T) {
	env := servicetest.Start(t, servicetest.Options{
		API:  api.Options{Keys: []auth.Key{{ID: "slow", SHA256: auth.HashToken("slow"), Rate: 0.01, Burst: 1}, {ID: "k", SHA256: auth.HashToken("k")}}},
		Jobs: jobs.Options{Workers: 1, MaxQueue: 1},
	})
	for i, want := range []int{200, 429} {
		req, _ := http.NewRequest("GET", env.URL+"/api/v2/runtimes", nil)
		req.Header.Set("Authorization", "Bearer slow")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != want || want == 429 && (body.Message == "" || resp.Header.Get("Retry-After") == "") {
			t.Fatalf("request %d: %d %q, want %d", i, resp.StatusCode, body.Message, want)
		}
	}
	sleep := `{"language":"python","version":"*","files":[{"content":"import time\ntime.sleep(1)"}]}`
	var wg sync.WaitGroup
	for range 2 { // one runs, one waits in the queue
		wg.Go(func() {
			req, _ := http.NewRequest("POST", env.URL+"/api/v2/execute", strings.NewReader(sleep))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Auth-Token", "k")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
		time.Sleep(300 * time.Millisecond)
	}
	code, res, raw := post(t, env.URL, "application/json", sleep, "X-Auth-Token", "k")
	wg.Wait()
	if code != 503 || res.Message != "queue is full" {
		t.Fatalf("queue full: %d %s", code, raw)
	}
}

// event is a message of the connect socket.
type event struct {
	Type     string  `json:"type"`
	Stage    string  `json:"stage"`
	Stream   string  `json:"stream"`
	Data     string  `json:"data"`
	Code     *int    `json:"code"`
	Signal   *string `json:"signal"`
	Language string  `json:"language"`
	Version  string  `json:"version"`
	Message  string  `json:"message"`
}

type session struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, url string) session {
	t.Helper()
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(url, "http")+"/api/v2/connect", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return session{t, ws}
}

func (s session) send(msg string) {
	s.t.Helper()
	if err := s.ws.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
		s.t.Fatal(err)
	}
}

// next reads the next event, or the close status when the socket closed.
func (s session) next() (event, websocket.StatusCode) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, data, err := s.ws.Read(ctx)
	if err != nil {
		if code := websocket.CloseStatus(err); code != -1 {
			return event{}, code
		}
		s.t.Fatal(err)
	}
	var e event
	if err := json.Unmarshal(data, &e); err != nil {
		s.t.Fatalf("%q: %v", data, err)
	}
	return e, 0
}

// TestConnect: an interactive C session: the compile stage, then the run
// stage reading what is typed, interrupted by a signal.
func TestConnect(t *testing.T) {
	s := dial(t, server(t))
	program := `#include <stdio.h>
#include <signal.h>
#include <unistd.h>
#include <stdlib.h>
static void bye(int s) { (void)s; write(1, "bye\n", 4); _exit(3); }
int main(void) { char line[64]; signal(SIGINT, bye);
  while (fgets(line, sizeof line, stdin)) { printf("got %s", line); fflush(stdout); }
  pause(); return 0; }`
	init, _ := json.Marshal(map[string]any{"type": "init", "language": "c", "version": "*", "files": []map[string]string{{"content": program}}})
	s.send(string(init))
	var log []string
	for {
		e, closed := s.next()
		if closed != 0 {
			log = append(log, fmt.Sprintf("close %d", closed))
			break
		}
		switch e.Type {
		case "runtime":
			log = append(log, "runtime "+e.Language)
		case "stage":
			log = append(log, "stage "+e.Stage)
			if e.Stage == "run" {
				s.send(`{"type":"data","stream":"stdin","data":"hello\n"}`)
			}
		case "data":
			log = append(log, e.Stream+" "+e.Data)
			if e.Data == "got hello\n" {
				s.send(`{"type":"signal","signal":"SIGINT"}`)
			}
		case "exit":
			log = append(log, fmt.Sprintf("exit %s %s %s", e.Stage, num(e.Code), str(e.Signal)))
		default:
			log = append(log, e.Type+" "+e.Message)
		}
	}
	want := []string{"runtime c", "stage compile", "exit compile 0 <null>", "stage run", "stdout got hello\n", "stdout bye\n", "exit run 3 <null>", "close 4999"}
	if strings.Join(log, "|") != strings.Join(want, "|") {
		t.Fatalf("session:\n%q\nwant:\n%q", log, want)
	}
}

// TestConnectProtocol: Piston's close codes for a misbehaving client.
func TestConnectProtocol(t *testing.T) {
	url := server(t)
	hello := `{"type":"init","language":"python","version":"*","files":[{"content":"import time\ntime.sleep(5)"}]}`
	cases := []struct {
		name     string
		messages []string
		want     websocket.StatusCode
		error    string
	}{
		{"no init", nil, 4001, ""},
		{"data before init", []string{`{"type":"data","stream":"stdin","data":"x"}`}, 4003, ""},
		{"signal before init", []string{`{"type":"signal","signal":"SIGINT"}`}, 4003, ""},
		{"init twice", []string{hello, hello}, 4000, ""},
		{"write to stdout", []string{hello, `{"type":"data","stream":"stdout","data":"x"}`}, 4004, ""},
		{"bad signal", []string{hello, `{"type":"signal","signal":"SIGNOPE"}`}, 4005, ""},
		{"bad init", []string{`{"type":"init","language":"cobol","version":"*","files":[{"content":"x"}]}`}, 4002, "cobol-* runtime is unknown"},
		{"not JSON", []string{`{`}, 4002, "unexpected end of JSON input"},
		{"input message too big", []string{hello, `{"type":"data","stream":"stdin","data":"` + strings.Repeat("x", 1<<20) + `"}`}, websocket.StatusMessageTooBig, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := dial(t, url)
			for _, m := range c.messages {
				s.send(m)
			}
			var errMsg string
			for {
				e, closed := s.next()
				if closed != 0 {
					if closed != c.want || errMsg != c.error {
						t.Fatalf("closed %d after error %q, want %d %q", closed, errMsg, c.want, c.error)
					}
					return
				}
				if e.Type == "error" {
					errMsg = e.Message
				}
			}
		})
	}
}

// clientEnv names the node_modules holding the npm piston-client, which
// scripts/test.sh installs.
const clientEnv = "AIRLOCK_PISTON_CLIENT"

// TestPistonClient drives the service through the npm piston-client, a
// real Piston client, with node.
func TestPistonClient(t *testing.T) {
	modules := os.Getenv(clientEnv)
	if modules == "" {
		modules = "../../.cache/piston-client/node_modules"
	}
	entry, err := filepath.Abs(filepath.Join(modules, "piston-client", "index.js"))
	if err == nil {
		_, err = os.Stat(entry)
	}
	if err != nil {
		t.Fatalf("the npm piston-client is missing (%v): scripts/test.sh installs it, or run "+
			"npm install --prefix .cache/piston-client piston-client@1.0.2", err)
	}
	script := filepath.Join(t.TempDir(), "client.mjs")
	err = os.WriteFile(script, []byte(`import piston from `+jsString("file://"+entry)+`;
const client = piston({ server: process.argv[2] });
const runtimes = await client.runtimes();
const python = await client.execute('python', 'import sys\nprint(input(), sys.argv[1:])', { stdin: 'hi' });
const c = await client.execute('c', '#include <stdio.h>\nint main(void) { puts("from c"); return 0; }');
const bad = await client.execute({ language: 'python', version: '1.0.0', files: [{ content: 'print(1)' }] });
console.log(JSON.stringify({ runtimes, python, c, bad }));
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/node", script, server(t)).Output()
	if err != nil {
		t.Fatalf("node: %v %s", err, out)
	}
	var got struct {
		Runtimes []struct{ Language string }
		Python   result
		C        result
		Bad      struct{ Message string }
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if len(got.Runtimes) == 0 || got.Python.Run == nil || got.Python.Run.Stdout != "hi ['1', '2', '3']\n" ||
		got.C.Run == nil || got.C.Compile == nil || got.C.Run.Stdout != "from c\n" || got.Bad.Message != "python-1.0.0 runtime is unknown" {
		t.Fatalf("through piston-client: %s", out)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Piston jobs go through the one service and its audit log.
func TestAudited(t *testing.T) {
	env := servicetest.Start(t, servicetest.Options{Jobs: jobs.Options{Workers: 1}})
	execute(t, env.URL, `{"language":"python","version":"*","files":[{"content":"print('audited')"}]}`)
	lines := env.AuditLines()
	var e audit.Entry
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &e) != nil || e.API != "piston" || e.Language != "python" || e.Status != "ok" || e.CodeSHA256 == "" {
		t.Errorf("audit log: %q", lines)
	}
}

// unreadable is a store whose reads of jobs fail.
type unreadable struct{ airlock.JobStore }

func (unreadable) Get(context.Context, string) (*airlock.Job, error) {
	return nil, errors.New("connection refused")
}

// TestWaitFails: the wait for the result fails while the client is still
// there (the store cannot be read): the client is told so with a 503,
// never an empty 200, and the job, whose result it will not get, does not
// run to its end, so that its retry runs it once.
func TestWaitFails(t *testing.T) {
	var store airlock.JobStore
	env := servicetest.Start(t, servicetest.Options{
		Jobs: jobs.Options{Workers: 1},
		Deps: func(d *jobs.Deps) { store = d.Store; d.Store = unreadable{d.Store} },
	})
	req, _ := http.NewRequest("POST", env.URL+"/api/v2/execute", strings.NewReader(`{"language":"python","version":"*","files":[{"content":"import time\ntime.sleep(2)\nprint('ran')"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var body struct{ Message string }
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || json.Unmarshal(raw, &body) != nil || body.Message == "" {
		t.Fatalf("execute while the store cannot be read: %d %q", resp.StatusCode, raw)
	}
	// Cancelled while queued, or stopped while running.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		list, _, err := store.List(t.Context(), piston.Face, 0, 10)
		if err != nil || len(list) != 1 {
			t.Fatalf("the Piston job: %v %v", list, err)
		}
		if j := list[0]; j.Status.Finished() {
			if j.Status != airlock.StatusCancelled {
				t.Fatalf("the job whose client was answered 503 ended %s, want cancelled", j.Status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job did not end")
		}
	}
}
